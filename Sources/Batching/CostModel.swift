/// What each stage costs per batch, learned online: a moving average per batch size measured, and a
/// least-squares line `a * B + c` through them to predict the sizes not yet measured.
public struct CostModel: Sendable, Equatable {
    /// Weight of a new measurement in the moving average.
    public var smoothing = 0.3
    /// Stage -> batch size -> (average seconds per batch, samples).
    public private(set) var measured: [Stage: [Int: Sample]] = [:]
    /// Batch size -> (average bytes, samples) of memory in use while running at that size.
    public private(set) var memory: [Int: Sample] = [:]

    /// A moving average, its sample count, and how far measurements stray from it.
    public struct Sample: Sendable, Equatable {
        /// Average.
        public var value: Double
        /// How many measurements went in.
        public var count: Int
        /// Moving average (same weight) of how far each measurement fell from the average before it:
        /// the measurements' noise, 0 until a second one.
        public var deviation: Double = 0

        /// `sample` folded into the moving average with weight `smoothing`, or its first value.
        static func adding(_ sample: Double, to s: Sample?, smoothing: Double) -> Sample {
            guard let s, s.count > 0 else { return Sample(value: sample, count: 1) }
            let miss = abs(sample - s.value)
            return Sample(
                value: s.value + smoothing * (sample - s.value), count: s.count + 1,
                deviation: s.count == 1 ? miss : s.deviation + smoothing * (miss - s.deviation))
        }
    }

    /// An empty model.
    public init() {}

    /// Records that `stage` took `seconds` for one batch of `batch` frames.
    public mutating func observe(stage: Stage, batch: Int, seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        measured[stage, default: [:]][batch] = .adding(
            seconds, to: measured[stage]?[batch], smoothing: smoothing)
    }

    /// Records memory in use while running batches of `batch` frames.
    public mutating func observe(memoryBytes: Int, batch: Int) {
        memory[batch] = .adding(Double(memoryBytes), to: memory[batch], smoothing: smoothing)
    }

    /// Forgets everything (a new model, a new machine).
    public mutating func reset() {
        measured = [:]
        memory = [:]
    }

    /// Forgets what was measured at `batch` (it was found slower long ago: things may have changed).
    public mutating func forget(batch: Int) {
        for stage in measured.keys { measured[stage]?[batch] = nil }
        memory[batch] = nil
    }

    /// Stages seen.
    public var stages: [Stage] { measured.keys.sorted() }

    /// Batch sizes measured for every stage seen.
    public var measuredSizes: [Int] {
        let sets = measured.values.map { Set($0.keys) }
        guard var common = sets.first else { return [] }
        for s in sets.dropFirst() { common.formIntersection(s) }
        return common.sorted()
    }

    /// Seconds per batch of `batch` for `stage`: measured if it was, else from the line through the
    /// sizes measured (needs two); nil when unknown.
    public func predict(stage: Stage, batch: Int) -> Double? {
        guard let points = measured[stage] else { return nil }
        if let s = points[batch] { return s.value }
        return Self.line(points.mapValues(\.value))?(Double(batch))
    }

    /// How far `stage`'s measurements at `batch` stray from their average, as a fraction of it (from
    /// three measurements); at a size not measured so, the largest of the sizes that were (its
    /// prediction comes from them); nil when none was.
    public func noise(stage: Stage, batch: Int) -> Double? {
        func relative(_ s: Sample) -> Double? { s.count >= 3 && s.value > 0 ? s.deviation / s.value : nil }
        guard let points = measured[stage] else { return nil }
        if let s = points[batch], let n = relative(s) { return n }
        return points.values.compactMap(relative).max()
    }

    /// Memory in use at `batch`, measured or on the line; nil when unknown.
    public func predictMemory(batch: Int) -> Double? {
        if let s = memory[batch] { return s.value }
        return Self.line(memory.mapValues(\.value))?(Double(batch))
    }

    /// The slowest stage at `batch` when stages overlap, each divided by its parallelism (workers,
    /// requests in flight); nil if any stage is unknown there.
    public func bottleneck(batch: Int, parallelism: [Stage: Double] = [:]) -> (stage: Stage, seconds: Double)? {
        guard !measured.isEmpty else { return nil }
        var worst: (Stage, Double)?
        for stage in stages {
            guard let t = predict(stage: stage, batch: batch) else { return nil }
            let effective = t / max(parallelism[stage] ?? 1, 1)
            if worst == nil || effective > worst!.1 { worst = (stage, effective) }
        }
        return worst
    }

    /// The bottleneck's name for people: stages within 5% of the slowest are named together
    /// (`preprocess and inference`), since noise alone decides between them.
    public func bottleneckLabel(batch: Int, parallelism: [Stage: Double] = [:]) -> String? {
        bottleneckStages(batch: batch, parallelism: parallelism)?.map(\.rawValue).joined(separator: " and ")
    }

    /// The stages `bottleneckLabel` names: the slowest, with those within 5% of it, in stage order.
    public func bottleneckStages(batch: Int, parallelism: [Stage: Double] = [:]) -> [Stage]? {
        guard let worst = bottleneck(batch: batch, parallelism: parallelism) else { return nil }
        let close = stages.filter { stage in
            guard let t = predict(stage: stage, batch: batch) else { return false }
            return t / max(parallelism[stage] ?? 1, 1) >= worst.seconds * 0.95
        }
        return close.count > 1 ? close : [worst.stage]
    }

    /// Seconds a frame spends in the stages at `batch` (their sum, each taken once); nil if unknown.
    public func traversal(batch: Int) -> Double? {
        var total = 0.0
        for stage in stages {
            guard let t = predict(stage: stage, batch: batch) else { return nil }
            total += t
        }
        return stages.isEmpty ? nil : total
    }

    /// Least squares through `points` (x -> y); nil with fewer than two distinct x. Never negative.
    static func line(_ points: [Int: Double]) -> ((Double) -> Double)? {
        guard points.count >= 2 else { return nil }
        let xs = points.keys.map(Double.init)
        let ys = points.keys.map { points[$0]! }
        let n = Double(xs.count)
        let mx = xs.reduce(0, +) / n
        let my = ys.reduce(0, +) / n
        var sxx = 0.0
        var sxy = 0.0
        for (x, y) in zip(xs, ys) {
            sxx += (x - mx) * (x - mx)
            sxy += (x - mx) * (y - my)
        }
        guard sxx > 0 else { return nil }
        let a = sxy / sxx
        let c = my - a * mx
        let minY = ys.min()! * 0.5
        return { x in max(a * x + c, minY) }
    }
}

/// The value at fraction `p` of `sorted` (ascending), rounding the index down; nil when empty.
public func percentile(_ sorted: [Double], _ p: Double) -> Double? {
    sorted.isEmpty ? nil : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}
