/// One detected object, in pixels of the original frame.
public struct Detection: Sendable, Equatable, Codable {
    /// Class label from the sidecar (or the class id as text when the sidecar has none).
    public var label: String
    /// Class id as the model gives it.
    public var classId: Int
    /// Confidence, 0...1.
    public var score: Float
    /// `[x1, y1, x2, y2]` in pixels of the original frame.
    public var box: [Double]
    /// The stream's track this object belongs to, when the stream is tracked and the object is in a
    /// confirmed track; nil otherwise.
    public var track: UInt64? = nil

    /// Creates a detection.
    public init(label: String, classId: Int, score: Float, box: [Double], track: UInt64? = nil) {
        self.label = label
        self.classId = classId
        self.score = score
        self.box = box
        self.track = track
    }

    /// Intersection over union of two boxes.
    public func iou(_ other: Detection) -> Double {
        let ix = max(0, min(box[2], other.box[2]) - max(box[0], other.box[0]))
        let iy = max(0, min(box[3], other.box[3]) - max(box[1], other.box[1]))
        let inter = ix * iy
        let a = (box[2] - box[0]) * (box[3] - box[1])
        let b = (other.box[2] - other.box[0]) * (other.box[3] - other.box[1])
        let union = a + b - inter
        return union > 0 ? inter / union : 0
    }
}

/// A model output: its shape and values, row-major.
public struct FloatTensor: Sendable {
    /// Dimensions.
    public var shape: [Int]
    /// Values.
    public var values: [Float]

    /// Creates a tensor view.
    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// Reads a model's outputs for one batch element into detections.
public protocol OutputDecoder: Sendable {
    /// Output tensor names the decoder needs, by role.
    var requiredRoles: [String] { get }
    /// The score a detection needs by default (the sidecar's threshold).
    var scoreThreshold: Float { get }
    /// Detections of batch element `index`, in pixels of a `width`x`height` frame, scoring at least
    /// `threshold` (the sidecar's when nil: a tracker asks for lower ones, to keep tracks through
    /// weak detections).
    func decode(_ outputs: [String: FloatTensor], index: Int, width: Int, height: Int, threshold: Float?)
        throws(DecodeError) -> [Detection]
}

extension OutputDecoder {
    /// Detections of batch element `index` scoring at least the sidecar's threshold.
    public func decode(_ outputs: [String: FloatTensor], index: Int, width: Int, height: Int) throws(DecodeError)
        -> [Detection]
    {
        try decode(outputs, index: index, width: width, height: height, threshold: nil)
    }
}

/// Outputs that do not have the shape the decoder expects.
public struct DecodeError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem.
    public enum Code: String, Sendable {
        /// The model's outputs are not what its decoder reads (a missing tensor, a wrong shape).
        case malformedOutput
    }

    /// The kind (one so far).
    public var code: Code { .malformedOutput }
    /// What is wrong.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// Makes the decoder a sidecar names.
public func makeDecoder(for spec: ModelSpec) throws(ModelSpecError) -> any OutputDecoder {
    switch spec.decoder {
    case "ssd": return SSDDecoder(spec: spec)
    case "classifier": return ClassifierDecoder(spec: spec)
    default:
        throw ModelSpecError(path: spec.name, message: "unknown decoder \"\(spec.decoder)\" (known: ssd, classifier)")
    }
}
