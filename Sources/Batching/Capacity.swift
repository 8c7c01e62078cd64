/// What a pipeline can still take, from its own measured stage costs: the fleet places cameras by
/// it. A value; no I/O.
public struct Capacity: Sendable, Equatable, Codable {
    /// Detector frames per second the best measured batch size sustains (nil before any size was
    /// measured).
    public var capacityFPS: Double?
    /// Detector frames per second arriving now.
    public var servedFPS: Double
    /// Detector frames per second the manager could still free by lengthening the intervals of the
    /// streams that let it choose (`infer_every: auto`) to their longest.
    public var reclaimableFPS: Double
    /// `capacity - served + reclaimable`, never below 0 (nil while the capacity is unknown).
    public var headroomFPS: Double?

    enum CodingKeys: String, CodingKey {
        case capacityFPS = "capacity_fps"
        case servedFPS = "served_fps"
        case reclaimableFPS = "reclaimable_fps"
        case headroomFPS = "headroom_fps"
    }

    /// The capacity from stage costs per batch (seconds, by size): the stages of a staged pipeline
    /// run at once, so a size sustains `B / its slowest stage` frames a second (decoding, one
    /// thread per stream, is left out); the best size's is the pipeline's.
    public init(costs: [Int: [Stage: Double]], served: Double, intervals: [IntervalStream] = []) {
        let rates = costs.compactMap { size, stages -> Double? in
            guard size > 0, let slowest = stages.filter({ $0.key != .decode }).values.max(), slowest > 0 else {
                return nil
            }
            return Double(size) / slowest
        }
        capacityFPS = rates.max()
        servedFPS = max(0, served)
        reclaimableFPS = intervals.reduce(0) {
            $0 + max(0, $1.inferred(at: $1.interval) - $1.inferred(at: $1.maxInterval))
        }
        headroomFPS = capacityFPS.map { max(0, $0 - servedFPS + reclaimableFPS) }
    }
}
