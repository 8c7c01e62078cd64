/// Frames out, their lag and frames shed over the run, in time buckets: what `--stats` keeps as
/// `timeline` and `batchline profile --timeline` plots. Bounded: past `maxBuckets` buckets,
/// neighbours merge and the bucket width doubles, so a day-long run costs what an hour does.
struct Timeline {
    /// One bucket.
    struct Bucket {
        var frames = 0
        var lagSum = 0.0
        var lagMax = 0.0
        var dropped = 0

        mutating func merge(_ other: Bucket) {
            frames += other.frames
            lagSum += other.lagSum
            lagMax = max(lagMax, other.lagMax)
            dropped += other.dropped
        }
    }

    private(set) var width: Double
    private(set) var buckets: [Bucket] = []
    let maxBuckets: Int

    init(width: Double = 0.5, maxBuckets: Int = 2400) {
        self.width = width
        self.maxBuckets = maxBuckets
    }

    /// A frame written at `t` seconds into the run, `lag` seconds after it arrived.
    mutating func frame(at t: Double, lag: Double) {
        update(t) {
            $0.frames += 1
            $0.lagSum += lag
            $0.lagMax = max($0.lagMax, lag)
        }
    }

    /// A frame shed, written as a gap at `t`.
    mutating func dropped(at t: Double, count: Int = 1) { update(t) { $0.dropped += count } }

    private mutating func update(_ t: Double, _ change: (inout Bucket) -> Void) {
        var index = max(0, Int(t / width))
        while index >= maxBuckets {
            // Merge neighbours: half as many buckets, twice as wide.
            buckets = stride(from: 0, to: buckets.count, by: 2).map { i in
                var b = buckets[i]
                if i + 1 < buckets.count { b.merge(buckets[i + 1]) }
                return b
            }
            width *= 2
            index = max(0, Int(t / width))
        }
        if index >= buckets.count {
            buckets.append(contentsOf: repeatElement(Bucket(), count: index - buckets.count + 1))
        }
        change(&buckets[index])
    }

    /// The buckets as `--stats` writes them.
    var points: [RunStats.TimelinePoint] {
        buckets.enumerated().map { i, b in
            RunStats.TimelinePoint(
                time: Double(i) * width, width: width, fps: Double(b.frames) / width,
                lagMeanMs: b.frames > 0 ? b.lagSum / Double(b.frames) * 1000 : 0, lagMaxMs: b.lagMax * 1000,
                dropped: b.dropped)
        }
    }
}
