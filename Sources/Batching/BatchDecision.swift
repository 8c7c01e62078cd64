/// One change of batch size (or of overload state), with the reason and the figures behind it.
///
/// In JSON, `reason` is the reason in words, as it always was, and `why` the same reason typed: its
/// `kind` and the figures it quotes (see `DecisionReason`).
public struct BatchDecision: Sendable, Codable, Equatable {
    /// When (the snapshot's time).
    public var time: Double
    /// Batch size before.
    public var from: Int
    /// Batch size after.
    public var to: Int
    /// Why, typed: what kind of decision, and the figures behind it.
    public var why: DecisionReason
    /// Why, in words (`why`'s description).
    public var reason: String { why.description }
    /// The slowest stage at the new size, as predicted.
    public var bottleneck: String?
    /// Predicted seconds per batch of that stage at the new size.
    public var bottleneckSeconds: Double?
    /// Predicted frames per second at the new size.
    public var predictedThroughput: Double?
    /// The deadline per batch at the new size: B / arrival rate.
    public var deadlineSeconds: Double?
    /// Arrival rate, frames/s.
    public var arrivalRate: Double
    /// p99 latency measured, seconds.
    public var latencyP99: Double?
    /// Whether frames must be shed because no size keeps up.
    public var overloaded: Bool
    /// Frames of each stream to skip (1 in `skipEvery`) under the `skip` policy; nil when not skipping.
    public var skipEvery: Int?
    /// Inference requests in flight after the decision, when the controller manages them.
    public var requests: Int?

    /// Creates a decision.
    public init(
        time: Double, from: Int, to: Int, why: DecisionReason, bottleneck: String? = nil,
        bottleneckSeconds: Double? = nil, predictedThroughput: Double? = nil, deadlineSeconds: Double? = nil,
        arrivalRate: Double, latencyP99: Double? = nil, overloaded: Bool, skipEvery: Int? = nil, requests: Int? = nil
    ) {
        self.time = time
        self.from = from
        self.to = to
        self.why = why
        self.bottleneck = bottleneck
        self.bottleneckSeconds = bottleneckSeconds
        self.predictedThroughput = predictedThroughput
        self.deadlineSeconds = deadlineSeconds
        self.arrivalRate = arrivalRate
        self.latencyP99 = latencyP99
        self.overloaded = overloaded
        self.skipEvery = skipEvery
        self.requests = requests
    }

    enum CodingKeys: String, CodingKey {
        case time, from, to, reason, why, bottleneck, overloaded
        case bottleneckSeconds = "bottleneck_s"
        case predictedThroughput = "predicted_fps"
        case deadlineSeconds = "deadline_s"
        case arrivalRate = "arrival_fps"
        case latencyP99 = "latency_p99_s"
        case skipEvery = "skip_every"
        case requests
    }

    /// Reads a decision. One written before reasons were typed (no `why`), or with a `why` this version
    /// cannot read, keeps its reason as words alone (`.text`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        time = try c.decode(Double.self, forKey: .time)
        from = try c.decode(Int.self, forKey: .from)
        to = try c.decode(Int.self, forKey: .to)
        let words = try c.decode(String.self, forKey: .reason)
        why = (try? c.decodeIfPresent(DecisionReason.self, forKey: .why)) ?? .text(words)
        bottleneck = try c.decodeIfPresent(String.self, forKey: .bottleneck)
        bottleneckSeconds = try c.decodeIfPresent(Double.self, forKey: .bottleneckSeconds)
        predictedThroughput = try c.decodeIfPresent(Double.self, forKey: .predictedThroughput)
        deadlineSeconds = try c.decodeIfPresent(Double.self, forKey: .deadlineSeconds)
        arrivalRate = try c.decode(Double.self, forKey: .arrivalRate)
        latencyP99 = try c.decodeIfPresent(Double.self, forKey: .latencyP99)
        overloaded = try c.decode(Bool.self, forKey: .overloaded)
        skipEvery = try c.decodeIfPresent(Int.self, forKey: .skipEvery)
        requests = try c.decodeIfPresent(Int.self, forKey: .requests)
    }

    /// Writes the decision: `reason` in words as before, `why` typed beside it.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(time, forKey: .time)
        try c.encode(from, forKey: .from)
        try c.encode(to, forKey: .to)
        try c.encode(reason, forKey: .reason)
        try c.encode(why, forKey: .why)
        try c.encodeIfPresent(bottleneck, forKey: .bottleneck)
        try c.encodeIfPresent(bottleneckSeconds, forKey: .bottleneckSeconds)
        try c.encodeIfPresent(predictedThroughput, forKey: .predictedThroughput)
        try c.encodeIfPresent(deadlineSeconds, forKey: .deadlineSeconds)
        try c.encode(arrivalRate, forKey: .arrivalRate)
        try c.encodeIfPresent(latencyP99, forKey: .latencyP99)
        try c.encode(overloaded, forKey: .overloaded)
        try c.encodeIfPresent(skipEvery, forKey: .skipEvery)
        try c.encodeIfPresent(requests, forKey: .requests)
    }
}
