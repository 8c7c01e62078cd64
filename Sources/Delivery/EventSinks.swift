import Analytics
import AsyncHTTPClient
import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOPosix

/// A node's sinks: each with its own outbox (`<folder>/<name>.sqlite`) and worker. `record` puts a
/// frame's events into the outbox of every sink that takes the stream (where the output stage
/// counted them, before the frame's line is written to its events file); `run` delivers them until
/// cancelled. A sink that cannot reach its peer says so in `statuses` and retries; the pipeline never
/// waits for it.
public final class EventSinks: Sendable {
    private enum Worker: Sendable {
        case mqtt(MQTTSink)
        case webhook(WebhookSink)

        var figures: SinkFigures {
            switch self {
            case .mqtt(let s): s.figures
            case .webhook(let s): s.figures
            }
        }
    }

    private let workers: [Worker]
    private let logger: Logger

    /// Opens every sink's outbox under `folder` (made if missing) and checks every spec; throws the
    /// first problem, one line naming the sink.
    public init(
        _ specs: [SinkSpec], folder: String, metrics: any MetricsFactory = MetricsSystem.factory,
        logger: Logger = Logger(label: "batchline.sinks"),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws(SinkError) {
        var names = Set<String>()
        for spec in specs {
            try spec.validate()
            guard names.insert(spec.name).inserted else { throw SinkError("two sinks are named \(spec.name)") }
        }
        if !specs.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw SinkError("outbox folder \(folder): \(error.localizedDescription)")
            }
        }
        var workers: [Worker] = []
        for spec in specs {
            let outbox = try Outbox(path: folder + "/" + spec.name + ".sqlite", maxBytes: spec.outboxBytes)
            if let aside = outbox.recovered {
                logger.error("sink \(spec.name): its outbox was not a database; it was moved to \(aside)")
            }
            let figures = SinkFigures(spec: spec, outbox: outbox, metrics: metrics)
            switch spec.kind {
            case .mqtt: workers.append(.mqtt(try MQTTSink(figures: figures, group: group, logger: logger)))
            case .webhook: workers.append(.webhook(WebhookSink(figures: figures, client: .shared, logger: logger)))
            }
        }
        self.workers = workers
        self.logger = logger
    }

    /// Whether there is any sink.
    public var isEmpty: Bool { workers.isEmpty }

    /// Puts `events` of `stream` (and, for MQTT sinks, its `counts` now, retained) into the outbox
    /// of every sink that takes the stream. Blocking (a disk write), never waiting for a peer: call
    /// it from the output's thread. Never throws: what a disk refuses is dropped and counted.
    /// `frameTime` is when the events' frame was read (seconds since 1970; nil: now): each message
    /// carries it as `frame_time`, and delivery is measured from it.
    public func record(stream: String, events: [AnalyticsEvent], counts: Data?, frameTime: Double? = nil) {
        guard !workers.isEmpty, !events.isEmpty || counts != nil else { return }
        let frameTime = frameTime ?? Date().timeIntervalSince1970
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let payloads: [(key: String, payload: Data)] = events.compactMap { e in
            (try? encoder.encode(Delivered(stream: stream, event: e, frameTime: frameTime))).map { (e.id, $0) }
        }
        for worker in workers where worker.figures.spec.takes(stream) {
            switch worker {
            case .mqtt:
                worker.figures.outbox.append(stream: stream, events: payloads, counts: counts, created: frameTime)
            case .webhook:
                if !payloads.isEmpty {
                    worker.figures.outbox.append(stream: stream, events: payloads, created: frameTime)
                }
            }
        }
    }

    /// Every sink as it is now.
    public func statuses() async -> [SinkStatus] {
        var all: [SinkStatus] = []
        for worker in workers { all.append(await worker.figures.status()) }
        return all
    }

    /// Delivers until the task is cancelled; then each sink says goodbye to its peer.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for worker in workers {
                group.addTask {
                    switch worker {
                    case .mqtt(let s): await s.run()
                    case .webhook(let s): await s.run()
                    }
                }
            }
        }
    }
}

/// An event as a sink sends it: the event's own fields and its stream's id.
struct Delivered: Encodable {
    var stream: String
    var event: AnalyticsEvent
    /// When its frame was read, seconds since 1970 (milliseconds kept).
    var frameTime: Double

    enum Keys: String, CodingKey {
        case stream
        case frameTime = "frame_time"
    }

    func encode(to encoder: any Encoder) throws {
        try event.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(stream, forKey: .stream)
        try container.encode((frameTime * 1000).rounded() / 1000, forKey: .frameTime)
    }
}
