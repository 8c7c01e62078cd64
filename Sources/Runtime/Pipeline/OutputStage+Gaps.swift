import Core
import Foundation
import Tracking
import VideoIO
import Vision

/// Frames that reached the output without inference, in their stream's order: shed ones written as
/// gap events, tracked ones as their tracker's answer.
extension OutputStage {
    /// Writes the tracked frames that follow `stream`'s next one, as long as they follow each other:
    /// a tracked frame is answered as soon as the frames before it are.
    mutating func writeTrackedRun(stream: Int) throws {
        try writeDrops(drops.takeRun(stream: stream, from: streams[stream]!.next, trackedOnly: true), stream: stream)
    }

    /// `writeTrackedRun` for every tracked stream: between batches (at least every 0.1 s) and after
    /// each, so that a frame the detector skips is answered as soon as the frames before it are,
    /// not when its stream's next detector frame comes out.
    mutating func writeTrackedRuns() throws {
        let tracked = streams.compactMap { $0.value.tracking != nil && !$0.value.complete ? $0.key : nil }
        for stream in tracked { try writeTrackedRun(stream: stream) }
    }

    /// Writes the frames shed from `stream`'s next one on, as long as they follow each other.
    mutating func writeShedRun(stream: Int) throws {
        try writeDrops(drops.takeRun(stream: stream, from: streams[stream]!.next), stream: stream)
    }

    /// Writes the frames of `stream` shed before `limit` (all that are left for nil) as gap events.
    mutating func writeGap(stream: Int, below limit: Int?) throws {
        let taken = drops.take(stream: stream, below: limit)
        for (k, drop) in taken.enumerated() {
            precondition(
                drop.index == streams[stream]!.next + k,
                "stream \(stream): frame \(streams[stream]!.next + k) lost without a drop record")
        }
        try writeDrops(taken, stream: stream)
        if let limit {
            precondition(streams[stream]!.next == limit, "stream \(stream): frames missing before \(limit)")
        }
    }

    /// Writes `list` (consecutive frames of `stream`, from its next one): a line each, or with
    /// `compactDrops` one line per run of frames shed for the same reason (`"through"`: its last).
    private mutating func writeDrops(_ list: [DropLog.Drop], stream: Int) throws {
        var i = 0
        while i < list.count {
            guard let reason = list[i].reason else {
                try writeTracked(list[i], stream: stream)
                i += 1
                continue
            }
            var j = i
            while compactDrops, j + 1 < list.count, list[j + 1].index == list[j].index + 1,
                list[j + 1].reason == reason
            {
                j += 1
            }
            try writeDrop(list[i], reason: reason, through: list[j].index, stream: stream)
            i = j + 1
        }
    }

    /// Writes a frame the stream's tracker answers: its confirmed tracks' predicted boxes, with
    /// `"inferred":false`. It counts as a frame written (its lag from its decoding), not as shed.
    private mutating func writeTracked(_ drop: DropLog.Drop, stream: Int) throws {
        let sink = streams[stream]!.sink
        let boxes = streams[stream]!.tracking?.skipped(pts: drop.pts) ?? []
        var result = FrameResult(
            stream: stream, frame: drop.index, pts: drop.pts, model: tag, batch: 0, detections: boxes)
        result.inferred = false
        result.events = try analyse(boxes, stream: stream, frame: drop.frame, decodedAt: drop.arrival)
        result.name = sink.name
        if wallClock { result.time = Date().timeIntervalSince1970 }
        let kept = try write(result, stream: stream)
        if let encoder = encoders[stream], let frame = drop.frame {
            var pixels = frame.pixels
            annotator.draw(boxes, on: &pixels, width: frame.width, height: frame.height)
            try encoder.write(pixels)
        }
        streams[stream]!.next += 1
        streams[stream]!.tracked += 1
        if case .tracked(let reason) = drop.kind {
            streams[stream]!.skipped[reason.rawValue, default: 0] += 1
            sink.handle?.answeredByTracker(reason)
        }
        _ = written(stream: stream, decodedAt: drop.arrival, kept: kept)
    }

    /// Writes frames `drop.index...last` of `stream`, shed for `reason`, as one gap event.
    private mutating func writeDrop(_ drop: DropLog.Drop, reason: String, through last: Int, stream: Int) throws {
        let sink = streams[stream]!.sink
        var result = FrameResult(
            stream: stream, frame: drop.index, pts: drop.pts, model: tag, batch: 0, detections: [],
            dropped: reason)
        result.name = sink.name
        result.through = last > drop.index ? last : nil
        if wallClock { result.time = Date().timeIntervalSince1970 }
        try write(result, stream: stream)
        let count = last - drop.index + 1
        streams[stream]!.next += count
        streams[stream]!.dropped += count
        sink.handle?.shed(count)
        timeline.dropped(at: Clock.now - origin, count: count)
    }
}
