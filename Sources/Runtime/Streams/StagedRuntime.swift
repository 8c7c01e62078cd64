import Batching
import Core
import Foundation
import ModelServing
import Monitoring
import Synchronization
import VideoIO
import Vision

/// Where a stream's results go, handed to the output thread when the stream attaches.
struct StreamSink {
    /// The stream's own events file (a service's streams); nil: the run's shared one.
    var events: EventWriter?
    /// The stream as the control plane sees it.
    var handle: StreamHandle?
    /// What to call the stream in its events (nil: its number).
    var name: String?
    /// The source, for the stats.
    var source: String
    /// How the stream is tracked; nil: not tracked.
    var tracking: TrackingSettings? { interval?.settings }
    /// Its inference interval as it runs, when it is tracked.
    var interval: StreamInterval? = nil
}

/// Streams joining and leaving, from the threads that attach them to the output thread.
final class StreamDirectory: Sendable {
    private struct Changes {
        var added: [(stream: Int, sink: Handoff<StreamSink>)] = []
        var ended: [(stream: Int, frames: Int)] = []
    }

    private let changes = Mutex(Changes())

    /// `stream` starts; its frames may come from now on.
    func added(_ stream: Int, _ sink: StreamSink) {
        changes.withLock { $0.added.append((stream, Handoff(sink))) }
    }

    /// `stream` read its last frame: `frames` were numbered in all (written or shed).
    func ended(_ stream: Int, frames: Int) { changes.withLock { $0.ended.append((stream, frames)) } }

    /// What changed since the last look.
    func take() -> (added: [(stream: Int, sink: StreamSink)], ended: [(stream: Int, frames: Int)]) {
        changes.withLock { c in
            defer { c = Changes() }
            return (c.added.map { ($0.stream, $0.sink.value) }, c.ended)
        }
    }
}

/// The staged topology (the paper's 3b and 3c), with streams that join and leave while it runs.
///
/// Each stream decodes on its own thread into one shared bounded queue (the stream muxer);
/// pre-processing runs on `workers` threads whose results are put back in order; one thread
/// batches frames and keeps inferences in flight; the thread that calls `run` post-processes and
/// writes. A stream attaches at any time until `close`; the queue of decoded frames closes when
/// every stream attached has ended after `close`, and then the stages drain in order. No stage runs
/// on Swift's cooperative pool; every queue is bounded, and a full one makes its producer wait
/// (or, for decoded frames, sheds as the stream's policy says).
final class StagedRuntime: Sendable {
    struct Settings: Sendable {
        var decodedCapacity: Int
        /// Decoded frames one stream may have waiting (its lane of the fair queue).
        var laneCapacity: Int
        var readyCapacity: Int
        var workers: Int
        var requests: Int
        var input: ModelSpec.InputSpec
        /// Keep the error that ended each stream for the run's stats (a service's streams come and
        /// go for months: their handles say it instead).
        var recordErrors = true
    }

    let decoded: FairQueue<SourceFrame>
    let ready: ReorderBuffer<ReadyFrame>
    let inferred: BoundedQueue<InferredBatch>
    let directory = StreamDirectory()
    let errors = SourceErrors()
    private let settings: Settings
    private let models: ModelManager
    private let manager: BatchManager?
    private let drops: DropLog
    private let failure = FirstFailure()
    private let sources = DispatchGroup()
    /// Open to new streams; guards `sources.enter` against `close`.
    private let accepting = Mutex(true)
    private let runStart = Clock.now
    private let inFlight: @Sendable () -> Int
    private let batchSize: @Sendable () -> Int
    private let timeout: @Sendable () -> Double

    init(
        settings: Settings, models: ModelManager, manager: BatchManager?, drops: DropLog,
        inFlight: @escaping @Sendable () -> Int, batchSize: @escaping @Sendable () -> Int,
        timeout: @escaping @Sendable () -> Double
    ) {
        self.settings = settings
        decoded = FairQueue(
            capacity: settings.decodedCapacity, laneCapacity: settings.laneCapacity, lane: { $0.stream })
        ready = ReorderBuffer(capacity: settings.readyCapacity)
        inferred = BoundedQueue(capacity: settings.requests + 1)
        self.models = models
        self.manager = manager
        self.drops = drops
        self.inFlight = inFlight
        self.batchSize = batchSize
        self.timeout = timeout
    }

    /// Starts reading `source` as `stream` on its own thread; false once the runtime is closed.
    /// `stop` is raised when the stream is to stop reading (removed, or the whole run stops).
    @discardableResult
    func attach(
        _ source: Handoff<FrameSource>, stream: Int, decode: DecodeSettings, sink: StreamSink,
        stop: StopSignal
    ) -> Bool {
        let group = sources
        let open = accepting.withLock { open in
            if open { group.enter() }
            return open
        }
        guard open else { return false }
        directory.added(stream, sink)
        let (queue, drops, manager, start, errors, directory) = (decoded, drops, manager, runStart, errors, directory)
        let recordErrors = settings.recordErrors
        Self.startThread("batchline-decode-\(stream)") {
            defer { group.leave() }
            let reader = source.value
            if let error = DecodeStage.run(
                reader, stream: stream, settings: decode, into: queue, drops: drops, manager: manager,
                runStart: start, stop: stop)
            {
                if recordErrors { errors.record(stream, error) }
            }
            directory.ended(stream, frames: reader.framesRead)
        }
        return true
    }

    /// No more streams: the stages drain and `run` returns once every attached stream has ended.
    func close() {
        let first = accepting.withLock { open in
            defer { open = false }
            return open
        }
        guard first else { return }
        let (sources, decoded) = (sources, decoded)
        Self.startThread("batchline-sources") {
            sources.wait()
            decoded.close()
        }
    }

    /// Runs the stages, post-processing and writing on the calling thread (which must not be on the
    /// cooperative pool) until the queues drain after `close`; the queues' figures.
    func run(output: inout OutputStage) throws -> [String: RunStats.QueueStats] {
        let (decoded, ready, inferred, failure) = (decoded, ready, inferred, failure)
        let stopAll: @Sendable () -> Void = {
            decoded.close()
            ready.close()
            inferred.close()
        }
        let allDone = DispatchGroup()

        // Pre-processing workers: numbered pops, results put back in order.
        let workersDone = DispatchGroup()
        let input = settings.input
        for w in 0..<settings.workers {
            workersDone.enter()
            Self.startThread("batchline-preprocess-\(w)") {
                defer { workersDone.leave() }
                var preprocessor = Preprocessor(input: input)
                while let (sequence, source) = decoded.popNumbered() {
                    guard ready.insert(PreprocessStage.run(source, with: &preprocessor), sequence: sequence) else {
                        return
                    }
                }
            }
        }
        allDone.enter()
        Self.startThread("batchline-preprocess-join") {
            workersDone.wait()
            ready.close()
            allDone.leave()
        }

        // Batching and inference.
        allDone.enter()
        let (models, requests, inFlight, timeout, batchSize) = (models, settings.requests, inFlight, timeout, batchSize)
        Self.startThread("batchline-infer") {
            defer {
                inferred.close()
                allDone.leave()
            }
            do {
                var stage = InferenceStage(
                    models: models, requests: requests, inFlight: inFlight, timeout: timeout, batchSize: batchSize)
                try stage.run(from: ready, to: inferred)
            } catch {
                failure.record(error)
                stopAll()
            }
        }

        // Post-processing and output, here; a look at streams joining and leaving at least every 0.1 s.
        do {
            loop: while true {
                switch inferred.pop(until: Clock.now + 0.1) {
                case .element(let batch):
                    try output.emit(batch, queueDepth: decoded.depth.now + ready.depth.now, streams: directory)
                case .timedOut:
                    try output.tick(streams: directory)
                case .closed:
                    break loop
                }
            }
            try output.tick(streams: directory)
        } catch {
            failure.record(error)
            stopAll()
        }
        allDone.wait()
        // Requests still waiting (the pipeline stopped under them) are answered, not left hanging.
        while case .element(let left) = ready.popNext(until: Clock.now) {
            left.ticket?.fail(failure.error ?? PipelineError(.notReady, "the pipeline stopped"))
        }
        if let error = failure.error {
            output.abandon(error)
            throw error
        }
        func q(_ capacity: Int, _ depth: (now: Int, highWater: Int)) -> RunStats.QueueStats {
            RunStats.QueueStats(capacity: capacity, highWater: depth.highWater)
        }
        return [
            "decoded": q(decoded.capacity, decoded.depth), "preprocessed": q(ready.capacity, ready.depth),
            "inferred": q(inferred.capacity, inferred.depth),
        ]
    }

    /// Puts a request's input before the next decoded frame; false when too many wait (or closed).
    func submit(_ frame: ReadyFrame) -> Bool {
        manager?.arrivals.arrived(at: frame.source.arrival)
        return ready.insertUrgent(frame)
    }

    static func startThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }
}
