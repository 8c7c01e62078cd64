/// A stage of the pipeline, as the cost model, the batch size manager and the simulator name it.
public enum Stage: String, Sendable, Codable, CaseIterable, Comparable, CustomStringConvertible {
    /// Reading and decoding frames (one thread per stream).
    case decode
    /// Resizing and laying frames out as the model takes them (on the CPU).
    case preprocess
    /// Running a batch on the device.
    case infer
    /// Turning the model's outputs into detections, writing events.
    case postprocess

    public var description: String { rawValue }

    public static func < (a: Stage, b: Stage) -> Bool { a.rawValue < b.rawValue }
}
