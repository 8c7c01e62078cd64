import Core
import Foundation

/// The sidecar (`model.json`) beside a model file: what the model is and how to feed and read it.
///
/// Adding another detector or classifier needs a sidecar, and at most a new `OutputDecoder`.
public struct ModelSpec: Codable, Sendable, Equatable {
    /// The model's name, as events report it.
    public var name: String
    /// Its version, as events report it.
    public var version: String
    /// What it does: `detection` or `classification`.
    public var task: String
    /// The model file, relative to the sidecar.
    public var file: String
    /// Which output decoder reads its outputs (`ssd`, `classifier`).
    public var decoder: String
    /// Class id (as text) to label.
    public var labels: [String: String]

    /// `labels` keyed by class number (keys that are not numbers are left out).
    public var labelsByClass: [Int: String] {
        Dictionary(uniqueKeysWithValues: labels.compactMap { k, v in Int(k).map { ($0, v) } })
    }
    /// The input tensor and the picture it expects.
    public var input: InputSpec
    /// Output tensor names by role (for `ssd`: boxes, scores, classes, count).
    public var outputs: [String: String]
    /// Detections below this score are dropped.
    public var scoreThreshold: Float
    /// How its weights and activations are held (`int8`, `fp16`...); nil: as trained.
    public var precision: String?
    /// For a version made from another (`batchline models quantize`): which, how, and how it
    /// measured against it.
    public var derived: Derivation?

    /// Where a derived version came from and what the accuracy gate found.
    public struct Derivation: Codable, Sendable, Equatable {
        /// The version it was made from.
        public var from: Int
        /// The tool and method (`nncf 3.4.0 post-training quantization, int8`).
        public var method: String
        /// The calibration source and how many of its frames calibrated.
        public var calibration: String
        public var calibrationFrames: Int
        /// The gate's figures on frames held back from calibration.
        public var gate: GateFigures

        public init(from: Int, method: String, calibration: String, calibrationFrames: Int, gate: GateFigures) {
            self.from = from
            self.method = method
            self.calibration = calibration
            self.calibrationFrames = calibrationFrames
            self.gate = gate
        }
    }

    /// A derived version against its original on held-back frames.
    public struct GateFigures: Codable, Sendable, Equatable {
        /// `f1` (detections against the original's, IoU >= 0.7) or `top1` (agreement).
        public var metric: String
        public var score: Double
        public var threshold: Double
        public var passed: Bool
        public var frames: Int
        public var meanIoU: Double?
        public var matched: Int?
        public var missed: Int?
        public var extra: Int?
        /// Frames per second of each at batch 1, measured in the same run.
        public var originalFPS: Double
        public var candidateFPS: Double

        public init(
            metric: String, score: Double, threshold: Double, passed: Bool, frames: Int, meanIoU: Double?,
            matched: Int?, missed: Int?, extra: Int?, originalFPS: Double, candidateFPS: Double
        ) {
            self.metric = metric
            self.score = score
            self.threshold = threshold
            self.passed = passed
            self.frames = frames
            self.meanIoU = meanIoU
            self.matched = matched
            self.missed = missed
            self.extra = extra
            self.originalFPS = originalFPS
            self.candidateFPS = candidateFPS
        }

        /// `F1 0.985 (>= 0.97: passed) on 100 held-back frames, mean IoU 0.962, 3 missed, 1 extra; 185.2 -> 221.7 fps`.
        public var summary: String {
            let name = metric == "f1" ? "F1" : "top-1 agreement"
            var text =
                "\(name) \(fmt(score, 3)) (\(passed ? ">=" : "<") \(fmt(threshold, 2)): \(passed ? "passed" : "refused"))"
            text += " on \(frames) held-back frames"
            if let meanIoU { text += ", mean IoU \(fmt(meanIoU, 3))" }
            if let missed, let extra, let matched { text += ", \(matched) matched, \(missed) missed, \(extra) extra" }
            text += "; \(fmt(originalFPS, 1)) -> \(fmt(candidateFPS, 1)) fps at batch 1"
            text += " (\(fmt(candidateFPS / max(originalFPS, 1e-9), 2))x)"
            return text
        }

        private func fmt(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
    }

    /// How the input tensor's dimensions are ordered.
    public enum Layout: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        /// Batch, height, width, channels (TensorFlow's).
        case nhwc = "NHWC"
        /// Batch, channels, height, width (PyTorch's, ONNX's).
        case nchw = "NCHW"

        public var description: String { rawValue }
    }

    /// The order of the colour channels.
    public enum ColorOrder: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        case rgb = "RGB"
        case bgr = "BGR"

        public var description: String { rawValue }
    }

    /// The input tensor's element type.
    public enum ElementType: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        /// Bytes 0...255.
        case u8
        /// 32-bit floats, after `mean` and `std`.
        case f32

        public var description: String { rawValue }
    }

    /// The input tensor and the picture it expects.
    public struct InputSpec: Codable, Sendable, Equatable {
        /// Tensor name.
        public var name: String
        /// Picture width the model takes.
        public var width: Int
        /// Picture height the model takes.
        public var height: Int
        /// `NHWC` or `NCHW`.
        public var layout: Layout
        /// `RGB` or `BGR`.
        public var color: ColorOrder
        /// Element type: `u8` or `f32`.
        public var type: ElementType
        /// How to resize the frame to the input size.
        public var resize: ResizeMode
        /// Per-channel mean subtracted (f32 inputs only).
        public var mean: [Float]?
        /// Per-channel divisor after the mean (f32 inputs only).
        public var std: [Float]?

        /// Creates an input description.
        public init(
            name: String, width: Int, height: Int, layout: Layout, color: ColorOrder, type: ElementType,
            resize: ResizeMode,
            mean: [Float]? = nil, std: [Float]? = nil
        ) {
            self.name = name
            self.width = width
            self.height = height
            self.layout = layout
            self.color = color
            self.type = type
            self.resize = resize
            self.mean = mean
            self.std = std
        }
    }

    /// Creates a sidecar in code.
    public init(
        name: String, version: String, task: String, file: String, decoder: String, labels: [String: String],
        input: InputSpec, outputs: [String: String], scoreThreshold: Float
    ) {
        self.name = name
        self.version = version
        self.task = task
        self.file = file
        self.decoder = decoder
        self.labels = labels
        self.input = input
        self.outputs = outputs
        self.scoreThreshold = scoreThreshold
    }

    /// The sidecar file name looked for beside a model.
    public static let fileName = "model.json"

    /// Reads the sidecar for `path`: a `model.json`, a folder holding one, or a model file with one beside it.
    ///
    /// Returns the spec and the absolute path of the model file it names.
    public static func load(path: String) throws(ModelSpecError) -> (spec: ModelSpec, modelFile: String) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelSpecError(path: path, message: "no such file or folder")
        }
        let sidecar: String
        if isDir.boolValue {
            sidecar = (path as NSString).appendingPathComponent(fileName)
        } else if path.hasSuffix(".json") {
            sidecar = path
        } else {
            sidecar = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(fileName)
        }
        guard let data = fm.contents(atPath: sidecar) else {
            throw ModelSpecError(path: sidecar, message: "no sidecar \(fileName) beside the model")
        }
        let spec: ModelSpec
        do {
            spec = try JSONDecoder().decode(ModelSpec.self, from: data)
        } catch let DecodingError.dataCorrupted(context) where Self.enumField(context) != nil {
            throw ModelSpecError(path: sidecar, message: Self.enumField(context)!)
        } catch let DecodingError.keyNotFound(key, _) {
            throw ModelSpecError(path: sidecar, message: "missing field \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
            let DecodingError.dataCorrupted(context)
        {
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ModelSpecError(path: sidecar, message: "bad value at \"\(at)\": \(context.debugDescription)")
        } catch {
            throw ModelSpecError(path: sidecar, message: "not valid JSON")
        }
        try spec.validate(path: sidecar)
        let folder = (sidecar as NSString).deletingLastPathComponent
        var modelFile = (folder as NSString).appendingPathComponent(spec.file)
        if !isDir.boolValue && !path.hasSuffix(".json") { modelFile = path }
        return (spec, modelFile)
    }

    /// `input layout must be NHWC or NCHW, not X` for a value outside one of the input's enums.
    static func enumField(_ context: DecodingError.Context) -> String? {
        let path = context.codingPath.map(\.stringValue)
        guard path.count == 2, path[0] == "input" else { return nil }
        let known: [String]
        switch path[1] {
        case "layout": known = Layout.allCases.map(\.rawValue)
        case "color": known = ColorOrder.allCases.map(\.rawValue)
        case "type": known = ElementType.allCases.map(\.rawValue)
        default: return nil
        }
        // The decoder's text names the value it could not take.
        let value = context.debugDescription.split(separator: " ").last.map(String.init) ?? "?"
        return "input \(path[1]) must be \(known.joined(separator: " or ")), not \(value)"
    }

    /// Checks the fields that do not depend on the model itself.
    public func validate(path: String) throws(ModelSpecError) {
        func fail(_ m: String) throws(ModelSpecError) { throw ModelSpecError(path: path, message: m) }
        if name.isEmpty { try fail("\"name\" is empty") }
        if file.isEmpty || file.contains("..") { try fail("\"file\" must name a file beside the sidecar") }
        if !(1...8192).contains(input.width) || !(1...8192).contains(input.height) {
            try fail("input size \(input.width)x\(input.height) is out of range")
        }
        if !(0...1).contains(scoreThreshold) { try fail("scoreThreshold must be within 0...1") }
        for values in [input.mean, input.std].compactMap({ $0 }) where values.count != 3 {
            try fail("mean and std need 3 values, one per channel")
        }
        if let std = input.std, std.contains(0) { try fail("std must not be 0") }
    }

    /// `name@version`, as events report it.
    public var tag: String { "\(name)@\(version)" }
}

/// A sidecar that is missing, unreadable or inconsistent.
public struct ModelSpecError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem.
    public enum Code: String, Sendable {
        /// No sidecar or model file where one should be.
        case missing
        /// A sidecar that does not parse, or a model that does not match it.
        case invalid
    }

    /// The kind.
    public var code: Code = .invalid
    /// The sidecar or model path.
    public let path: String
    /// What is wrong.
    public let message: String

    /// Creates an error about `path`.
    public init(path: String, message: String, code: Code = .invalid) {
        self.path = path
        self.message = message
        self.code = code
    }

    /// `path: message`.
    public var description: String { "\(path): \(message)" }
}

extension ModelSpecError: CodedError {
    /// A sidecar that is wrong is the model's fault: invalid input.
    public var errorCode: ErrorCode { .invalid }
}
