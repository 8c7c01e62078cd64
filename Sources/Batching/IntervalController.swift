/// One stream whose inference interval the batch size manager chooses (`infer_every: auto`), as it
/// stands at a look.
public struct IntervalStream: Sendable, Equatable {
    /// Its name in the decisions.
    public var id: String
    /// The detector runs on every `interval`-th frame now.
    public var interval: Int
    /// The longest interval it may be given.
    public var maxInterval: Int
    /// Frames per second it decodes.
    public var fps: Double
    /// 0...1: how steady its tracks are lately (1: none born or lost, or a still scene; 0: every
    /// object new). Steady streams are given the longer intervals: their tracker answers well.
    public var stability: Double

    /// Creates a stream's figures.
    public init(id: String, interval: Int, maxInterval: Int, fps: Double, stability: Double) {
        self.id = id
        self.interval = max(1, interval)
        self.maxInterval = max(1, maxInterval)
        self.fps = max(0, fps)
        self.stability = min(1, max(0, stability.isFinite ? stability : 0))
    }

    /// Whether lengthening its interval would send fewer frames to the detector: below its longest,
    /// and with frames coming (a camera still connecting has none to spare).
    var canGrow: Bool { interval < maxInterval && fps > 0 }

    /// Frames per second it sends to the detector at interval `n`.
    func inferred(at n: Int) -> Double { fps / Double(max(1, n)) }

    /// What lengthening costs in answer quality, the lower the better: the interval it would have,
    /// weighed up for unsteady tracks. A steady stream at 4 weighs what an unsteady one at 2 does.
    func weight(at n: Int) -> Double { Double(n) * (1.5 - stability) }
}

/// One change of a stream's inference interval, and why.
public struct IntervalChange: Sendable, Equatable {
    /// The stream.
    public var stream: String
    /// The interval before.
    public var from: Int
    /// The interval after.
    public var to: Int
    /// Why, with the figures (`intervalLonger`, `intervalShorter`).
    public var why: DecisionReason
}

/// The first knob of the batch size manager: the inference intervals of the streams that let it
/// choose (`infer_every: auto`). A value type with no I/O, asked at each look of the manager.
///
/// - Falling behind, as measured (the same measurement that would otherwise shed frames), it
///   lengthens intervals until the frames sent to the detector fit within `target` of what the
///   pipeline delivered, steady streams first. The manager holds its overload while any interval
///   can still grow: intervals first, then the batch size, and frames are shed only when every
///   interval is at its longest.
/// - Keeping up with the queues nearly empty for a dwell, it shortens intervals while the frames
///   they add fit within `room` of the capacity measured when it last fell behind (at the same
///   batch size, in the last `forget` seconds); without such a measurement, within `room` of what
///   the batch size's stage costs promise (and `beyond` an older measurement), raising the frames
///   sent by `growth` at most per look; with nothing known (a new model), one step. A step that
///   falls behind is undone at the next look, and the capacity measured then holds for `forget`.
public struct IntervalController: Sendable {
    /// Settings.
    public struct Config: Sendable, Equatable {
        /// After lengthening, the frames sent to the detector aimed for, as a share of what the
        /// pipeline delivered while behind.
        public var target = 0.85
        /// A step shorter is taken while the frames sent to the detector after it stay within this
        /// share of the capacity measured (below `target`: a band in which neither moves).
        public var room = 0.7
        /// Seconds after a lengthening before the next: the queues drain.
        public var settle = 1.5
        /// Seconds after any change before a shortening.
        public var dwell = 3.0
        /// Without a capacity measured lately at the batch size running, a look's shortenings may
        /// raise the frames sent to the detector by this factor at most: stage costs measured at a
        /// light load promise more than a busy machine gives (its decoders take their share).
        public var growth = 1.5
        /// ...or by this share of the capacity counted on, if that is more (at a light load a factor
        /// of little is little)...
        public var growthFloor = 0.1
        /// ...and past a capacity measured long ago (or at another batch size) by this factor at most.
        public var beyond = 1.25
        /// No shortening while the machine's CPU is busier than this share (0...1): where the cores
        /// are the limit (decoders, pre-processing and a CPU detector share them), the stage costs
        /// promise more than the cores can give.
        public var cpuRoom = 0.8
        /// Seconds a capacity measured while behind is trusted.
        public var forget = 15.0
        /// Seconds after the first look during which what the pipeline delivers is not taken for its
        /// capacity: streams open, the model warms up, and the queues fill with the first frames.
        public var warmup = 3.0

        /// The defaults.
        public init() {}
    }

    /// Settings.
    public var config: Config
    /// Frames per second the pipeline delivered when it last fell behind: its capacity, measured.
    public private(set) var capacity: Double?
    /// When that was measured, and at which batch size.
    private var measuredAt = -Double.infinity
    private var measuredBatch = 0
    /// When an interval last changed.
    public private(set) var lastChange = -Double.infinity
    private var lastLonger = -Double.infinity
    private var firstLook: Double?
    /// The batch size at the last look: a change of it is a change of the load's footing too.
    private var lastBatch: Int?

    /// The longest gap between detections it gives a stream, seconds: boxes the tracker predicts
    /// drift from the objects the longer it goes (12 frames of a 25 fps camera).
    public static let maxSeconds = 0.5

    /// The longest interval it gives a stream of `fps` frames per second (2 at least; 25 assumed
    /// when the rate is not known).
    public static func maxInterval(fps: Double) -> Int {
        let f = fps.isFinite && fps > 0 ? fps : 25
        return min(300, max(2, Int((f * maxSeconds).rounded())))
    }

    /// Whether the detector runs on frame `index` of stream number `stream` at interval `n`: the
    /// phase staggered across streams (stream k infers frames k, k + N, ... modulo N), so that
    /// streams that start together do not all infer on the same frames and leave batches half
    /// empty between.
    public static func infers(frame index: Int, stream: Int, every n: Int) -> Bool {
        n <= 1 || (index + stream) % n == 0
    }

    /// A controller that has measured nothing.
    public init(config: Config = Config()) { self.config = config }

    /// Whether a look that finds the pipeline behind belongs to the intervals: some stream's can
    /// still grow (`canGrow`, as `lengthen` takes them). While so, the batch size manager does not
    /// enter overload (nothing is shed).
    public func holds(_ streams: [IntervalStream], behind: Bool) -> Bool {
        behind && streams.contains(where: \.canGrow)
    }

    /// A new model serves: the capacity measured says nothing of it.
    public mutating func modelChanged() {
        capacity = nil
        measuredAt = -.infinity
    }

    /// The changes to make at a look, if any: lengthenings while `behind`, one shortening when the
    /// load has fallen. `batch` is the batch size running, and `predicted` the frames per second its
    /// stage costs promise: what a shortening may count on once the size changed since the capacity
    /// was measured (a larger batch may take more).
    public mutating func decide(
        _ streams: [IntervalStream], _ load: LoadSnapshot, behind: Bool, batch: Int = 1, predicted: Double? = nil
    ) -> [IntervalChange] {
        if firstLook == nil { firstLook = load.time }
        // The batch size just changed: what the pipeline can take is not known yet; no shortening
        // before a dwell (a lengthening still may: falling behind is falling behind).
        if let lastBatch, lastBatch != batch { lastChange = max(lastChange, load.time) }
        lastBatch = batch
        let warm = load.time - (firstLook ?? load.time) >= config.warmup
        if behind, warm, let out = load.outputRate, out > 0, load.time - lastChange >= 1 {
            capacity = out
            measuredAt = load.time
            measuredBatch = batch
        }
        guard !streams.isEmpty else { return [] }
        if behind {
            guard load.time - lastLonger >= config.settle else { return [] }
            let changes = lengthen(streams, load, predicted: predicted)
            if !changes.isEmpty {
                lastLonger = load.time
                lastChange = load.time
            }
            return changes
        }
        guard warm, load.time - lastChange >= config.dwell, load.cpuBusy.map({ $0 <= config.cpuRoom }) ?? true,
            load.queueCapacity.map({ load.queueDepth * 4 < $0 }) ?? true,
            case let changes = shorten(streams, load, allowance(load, batch: batch, predicted: predicted)),
            !changes.isEmpty
        else { return [] }
        lastChange = load.time
        return changes
    }

    /// Lengthens intervals, steadiest streams and shortest intervals first, until the frames sent to
    /// the detector fit `target` of what was delivered (or, before that is measured, of what the
    /// batch size's stage costs promise; one step when neither is known). The reduction is worked
    /// out as a share of the arrivals, so that streams whose decoding lags their own rate under
    /// load (their measured rates low) still get their share of it.
    func lengthen(_ streams: [IntervalStream], _ load: LoadSnapshot, predicted: Double?) -> [IntervalChange] {
        var now = streams
        let delivered = load.outputRate ?? predicted
        let model = streams.map { $0.inferred(at: $0.interval) }.reduce(0, +)
        // What the streams' rates say is sent now, and what it must come down to.
        let aim = delivered.map { model * min(1, $0 * config.target / max(load.arrivalRate, 1e-9)) }
        var sent = model
        while true {
            let open = now.indices.filter { now[$0].canGrow }
            guard
                let i = open.min(by: {
                    (now[$0].weight(at: now[$0].interval + 1), now[$0].id)
                        < (now[$1].weight(at: now[$1].interval + 1), now[$1].id)
                })
            else { break }
            let n = now[i].interval
            sent -= now[i].inferred(at: n) - now[i].inferred(at: n + 1)
            now[i].interval = n + 1
            guard let aim, sent > aim else { break }
        }
        return Self.changes(streams, now) { s, to in
            .intervalLonger(
                stream: s.id, from: s.interval, to: to, arrivalRate: load.arrivalRate, rate: load.outputRate,
                queues: load.queues, stability: s.stability)
        }
    }

    /// The streams whose interval differs between `before` and `after`, each with `why`.
    private static func changes(
        _ before: [IntervalStream], _ after: [IntervalStream], why: (IntervalStream, Int) -> DecisionReason
    ) -> [IntervalChange] {
        zip(before, after).compactMap { b, a in
            a.interval == b.interval
                ? nil : IntervalChange(stream: b.id, from: b.interval, to: a.interval, why: why(b, a.interval))
        }
    }

    /// What a look's shortenings may raise the frames sent to the detector to (`limit`; nil: one
    /// step, nothing being known), and the capacity it counts on. A capacity measured while behind,
    /// lately and at this batch size: `room` of it, at once. Otherwise the least of what this size's
    /// stage costs promise and `beyond` what was measured before, `room` of it, and at most `growth`
    /// times what is sent now: the intervals open up over a few looks, each undone if it falls behind.
    func allowance(_ load: LoadSnapshot, batch: Int, predicted: Double?) -> Allowance {
        if let capacity, load.time - measuredAt < config.forget, measuredBatch == batch {
            return Allowance(limit: capacity * config.room, growing: nil, capacity: capacity)
        }
        var caps: [Double] = []
        if let predicted, predicted > 0, predicted.isFinite { caps.append(predicted) }
        if let capacity { caps.append(capacity * config.beyond) }
        guard let cap = caps.min() else { return Allowance(limit: nil, growing: nil, capacity: nil) }
        let sent = max(load.arrivalRate, 1)
        let growing = max(sent * config.growth, sent + cap * config.growthFloor)
        return Allowance(limit: cap * config.room, growing: growing, capacity: cap)
    }

    /// What a look's shortenings may do: raise the frames sent to the detector to `limit` at most
    /// (nil: one step), and past `growing` by one step at most; `capacity` is what they count on.
    struct Allowance {
        var limit: Double?
        var growing: Double?
        var capacity: Double?
    }

    /// Shortens intervals, the stream that gains most first (the least steady at the longest
    /// interval), one step at a time while the frames sent to the detector stay within what
    /// `allowed` allows; a single step when it sets no limit.
    func shorten(_ streams: [IntervalStream], _ load: LoadSnapshot, _ allowed: Allowance) -> [IntervalChange] {
        var now = streams
        var sent = load.arrivalRate
        while true {
            let long = now.indices.filter { now[$0].interval > 1 }
            guard
                let i = long.max(by: {
                    (now[$0].weight(at: now[$0].interval), now[$1].id)
                        < (now[$1].weight(at: now[$1].interval), now[$0].id)
                })
            else { break }
            let n = now[i].interval
            let after = sent + now[i].inferred(at: n - 1) - now[i].inferred(at: n)
            if let limit = allowed.limit, after > limit { break }
            if let growing = allowed.growing, after > growing, sent > load.arrivalRate { break }
            sent = after
            now[i].interval = n - 1
            if allowed.limit == nil { break }
        }
        return Self.changes(streams, now) { s, to in
            .intervalShorter(
                stream: s.id, from: s.interval, to: to, arrivalRate: load.arrivalRate, after: sent,
                capacity: allowed.capacity, stability: s.stability)
        }
    }
}
