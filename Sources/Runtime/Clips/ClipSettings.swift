/// A stream's clips of its events (`record: {pre_s, post_s}`): the seconds before and after each
/// event, cut from its compressed packets.
public struct ClipSettings: Sendable, Equatable, Codable {
    /// Seconds before the event the clip starts.
    public var preSeconds: Double
    /// Seconds after the event the clip ends.
    public var postSeconds: Double

    /// Each side's bound, seconds.
    public static let maxSeconds = 120.0
    /// How far the pipeline's output may lag behind the reading of a source with the ring still
    /// holding an event's start: the ring keeps `pre + post + lagMargin` seconds.
    public static let lagMargin = 10.0
    /// Bytes of compressed video a stream's ring holds at most.
    public static let ringBytes = 64 << 20

    enum CodingKeys: String, CodingKey {
        case preSeconds = "pre_s"
        case postSeconds = "post_s"
    }

    /// Settings as given; `problem` says what is wrong with them.
    public init(preSeconds: Double, postSeconds: Double) {
        self.preSeconds = preSeconds
        self.postSeconds = postSeconds
    }

    /// Why these cannot be used (nil when they can), naming the key.
    public var problem: String? {
        for (key, value) in [("pre_s", preSeconds), ("post_s", postSeconds)]
        where !(value.isFinite && value >= 0 && value <= Self.maxSeconds) {
            return "\(key) must be a number of seconds within 0...\(Int(Self.maxSeconds))"
        }
        return preSeconds + postSeconds > 0 ? nil : "pre_s and post_s are both 0: a clip would be empty"
    }

    /// Seconds of packets the ring keeps behind the newest.
    var window: Double { preSeconds + postSeconds + Self.lagMargin }
}
