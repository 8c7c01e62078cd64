import Core
import Foundation

/// Frames shed before they reached the output: written as gap events, in their stream's order.
extension OutputStage {
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
            var j = i
            while compactDrops, j + 1 < list.count, list[j + 1].index == list[j].index + 1,
                list[j + 1].reason == list[i].reason
            {
                j += 1
            }
            try writeDrop(list[i], through: list[j].index, stream: stream)
            i = j + 1
        }
    }

    /// Writes frames `drop.index...last` of `stream`, shed, as one gap event.
    private mutating func writeDrop(_ drop: DropLog.Drop, through last: Int, stream: Int) throws {
        let sink = streams[stream]!.sink
        var result = FrameResult(
            stream: stream, frame: drop.index, pts: drop.pts, model: tag, batch: 0, detections: [],
            dropped: drop.reason)
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
