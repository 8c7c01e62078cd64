/// What the pipeline measured since the last decision.
public struct LoadSnapshot: Sendable, Equatable {
    /// Seconds on the pipeline's clock.
    public var time: Double
    /// Frames arriving per second, all streams together.
    public var arrivalRate: Double
    /// Frames finished per second since the previous snapshot: the capacity itself while overloaded.
    public var outputRate: Double?
    /// p99 seconds from a frame's arrival to its result, over the recent window; nil before any.
    public var latencyP99: Double?
    /// Frames waiting in the pipeline's queues.
    public var queueDepth: Int
    /// How many frames those queues hold at most; with the depth, whether the pipeline is saturated.
    public var queueCapacity: Int?

    /// Queues three-quarters full or more: whatever the stage model says, the pipeline is not keeping up
    /// (a file run as fast as it goes is always here: its arrivals wait for the pipeline).
    public var saturated: Bool { queueCapacity.map { $0 > 0 && queueDepth * 4 >= $0 * 3 } ?? false }
    /// Bytes that may still be used before the memory limit; nil when unlimited.
    public var memoryHeadroom: Int?
    /// Memory in use now, bytes.
    public var memoryInUse: Int?
    /// Streams feeding the pipeline.
    public var streams: Int
    /// The share of the machine's CPU that was busy since the last look (0...1); nil when unknown.
    public var cpuBusy: Double? = nil

    /// Creates a snapshot.
    public init(
        time: Double, arrivalRate: Double, outputRate: Double? = nil, latencyP99: Double? = nil, queueDepth: Int = 0,
        memoryHeadroom: Int? = nil, memoryInUse: Int? = nil, streams: Int = 1, queueCapacity: Int? = nil
    ) {
        self.queueCapacity = queueCapacity
        self.time = time
        self.arrivalRate = arrivalRate
        self.outputRate = outputRate
        self.latencyP99 = latencyP99
        self.queueDepth = queueDepth
        self.memoryHeadroom = memoryHeadroom
        self.memoryInUse = memoryInUse
        self.streams = streams
    }

    /// The queues' fill, as a decision's reason quotes it.
    public var queues: DecisionReason.Queues { DecisionReason.Queues(depth: queueDepth, capacity: queueCapacity) }
}
