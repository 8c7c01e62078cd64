import Core
import Foundation
import InferenceBackend
import InferenceEngine
import ModelRegistry
import Monitoring
import Runtime
import VideoIO
import Vision

/// `batchline models quantize`: a lower-precision version of a repository model, made from the
/// version it serves, calibrated on frames decoded and pre-processed exactly as the serving pipeline
/// does, and let into the repository only if it passes the accuracy gate against that version on
/// frames held back from calibration.
///
/// The new version is written as `REPO/<name>/.N.incomplete` (the watcher ignores dot-folders), and
/// renamed to `N` when it passes (a running pipeline's watcher then swaps it in) or to `.N.refused`
/// when it does not (kept, with its figures, never served).
public enum Quantizer {
    /// What to make and how.
    public struct Options: Sendable {
        /// `REPO/<name>`.
        public var model: String
        /// The version to start from (default: the latest).
        public var from: Int?
        /// A video file or URL to calibrate on.
        public var calibration: String
        /// Where the held-back frames come from (default: every third sampled calibration frame).
        public var checkOn: String?
        /// Frames sampled from the calibration source (two thirds calibrate, one third is held back).
        public var frames = 300
        /// `int8` or `fp16`.
        public var precision = "int8"
        /// NNCF's preset (`mixed`: asymmetric activations; `performance`: symmetric).
        public var preset = "mixed"
        /// Node-name patterns kept in float.
        public var ignore: [String] = []
        /// Keep the prediction heads (the convolutions whose outputs become per-anchor boxes and
        /// scores) in float.
        public var keepHeads = false
        /// The least F1 (detectors) or top-1 agreement (classifiers) a candidate must reach.
        public var threshold = 0.97
        /// The Python that has nncf and openvino (the project's venv).
        public var python: String
        /// The OpenVINO device the gate runs on.
        public var device = "CPU"

        public init(model: String, calibration: String, python: String) {
            self.model = model
            self.calibration = calibration
            self.python = python
        }
    }

    /// What came of it.
    public struct Outcome: Sendable {
        /// The new version's number.
        public var version: Int
        /// Its folder: `REPO/<name>/N` when it passed, `REPO/<name>/.N.refused` when not.
        public var directory: String
        /// The sidecar's record: the version it came from, the method, the gate's figures.
        public var derivation: ModelSpec.Derivation
        public var passed: Bool { derivation.gate.passed }
    }

    /// The script `Options.python` runs.
    public static var script: String? { Bundle.module.path(forResource: "quantize", ofType: "py") }

    /// Makes the version; `progress` hears one line per step. Throws on anything that stops it
    /// (a bad source, a failed quantisation); a candidate that fails the gate is an outcome, not an error.
    public static func run(_ options: Options, progress: (String) -> Void) throws -> Outcome {
        guard let (repository, name) = try ModelRepository.modelFolder(options.model) else {
            throw PipelineError("\(options.model): quantize needs a repository model folder (REPO/<name>)")
        }
        let source: ModelVersion
        if let from = options.from {
            source = try repository.version(name, from)
        } else {
            guard let latest = try repository.latest(of: name) else {
                throw PipelineError("\(options.model): no complete version to start from")
            }
            source = latest
        }
        guard ["int8", "fp16"].contains(options.precision) else {
            throw PipelineError("--precision \(options.precision): use int8 or fp16")
        }
        guard let script else { throw PipelineError("quantize.py is missing from Batchline's resources") }
        let spec = source.spec
        let metric: AccuracyGate.Metric = spec.task == "classification" ? .top1 : .f1

        // 1. Frames, decoded and pre-processed as the pipeline does.
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("batchline-quantize-\(UUID())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let raw = work.appendingPathComponent("calibration.raw")
        let separate = options.checkOn != nil
        let sampled = try sample(
            options.calibration, count: options.frames, input: spec.input, into: raw, holdEvery: separate ? nil : 3,
            progress: progress)
        var held = sampled.held
        if let other = options.checkOn {
            held = try sample(
                other, count: max(options.frames / 3, 10), input: spec.input, into: nil, holdEvery: 1,
                progress: progress
            ).held
        }
        guard sampled.calibrated >= 10, held.count >= 10 else {
            throw PipelineError(
                "\(options.calibration): \(sampled.calibrated) calibration and \(held.count) held-back frames: need 10 of each (give more --frames or a longer source)"
            )
        }
        progress(
            "\(sampled.calibrated) calibration frames from \(options.calibration), \(held.count) held back"
                + (separate ? " from \(options.checkOn!)" : ""))

        // 2. The candidate, in a folder the watcher does not look at.
        let version = (try repository.versions(of: name).max() ?? 0) + 1
        let folder = repository.root + "/" + name
        let incomplete = folder + "/.\(version).incomplete"
        let refused = folder + "/.\(version).refused"
        for stale in [incomplete, refused] { try? FileManager.default.removeItem(atPath: stale) }
        try FileManager.default.createDirectory(atPath: incomplete, withIntermediateDirectories: true)
        var finished = false
        defer { if !finished { try? FileManager.default.removeItem(atPath: incomplete) } }
        let shape = frameShape(spec.input)
        var arguments = [
            script, "--model", source.modelFile, "--input", spec.input.name,
            "--frame-shape", shape.map(String.init).joined(separator: ","), "--dtype", spec.input.type.rawValue,
            "--calibration", raw.path, "--output", incomplete + "/model.xml", "--precision", options.precision,
            "--preset", options.preset,
        ]
        for pattern in options.ignore { arguments += ["--ignore", pattern] }
        if options.keepHeads { arguments.append("--keep-heads") }
        progress("quantizing \(name) version \(source.version) to \(options.precision) (\(options.python))")
        let method = try runScript(options.python, arguments)

        var derived = spec
        derived.file = "model.xml"
        derived.version = String(version)
        derived.precision = options.precision
        try write(derived, to: incomplete)

        // 3. The gate: both versions on the held-back frames, in the same run.
        progress("checking version \(version) against version \(source.version) on \(held.count) held-back frames")
        let core = try InferenceCore()
        let original = try OpenVINOEngine(path: source.directory, core: core, device: options.device)
        let candidate = try OpenVINOEngine(path: incomplete, core: core, device: options.device)
        var gate = AccuracyGate(metric: metric, threshold: options.threshold)
        let a = try detect(original, held)
        let b = try detect(candidate, held)
        for (o, c) in zip(a.detections, b.detections) { gate.add(original: o, candidate: c) }
        // Speed: each twice more, interleaved; the better pass of each.
        let a2 = try detect(original, held).seconds
        let b2 = try detect(candidate, held).seconds
        let fps = { (s: Double) in Double(held.count) / max(s, 1e-9) }
        let figures = gate.figures(
            originalFPS: fps(min(a.seconds, a2)), candidateFPS: fps(min(b.seconds, b2)))
        if !gate.canJudge {
            progress("version \(source.version) detects nothing on the held-back frames: the gate cannot judge")
        }
        derived.derived = ModelSpec.Derivation(
            from: source.version, method: method,
            calibration: options.calibration, calibrationFrames: sampled.calibrated, gate: figures)
        try write(derived, to: incomplete)

        // 4. In (renamed whole, so the watcher sees all of it or nothing), or kept aside.
        let destination = figures.passed ? folder + "/\(version)" : refused
        try FileManager.default.moveItem(atPath: incomplete, toPath: destination)
        finished = true
        return Outcome(version: version, directory: destination, derivation: derived.derived!)
    }

    /// One frame's input shape without the batch, as the model takes it.
    static func frameShape(_ input: ModelSpec.InputSpec) -> [Int] {
        input.layout == .nhwc ? [input.height, input.width, 3] : [3, input.height, input.width]
    }

    /// A held-back frame: its tensor and the frame's size (detections are in its pixels).
    struct HeldFrame {
        var bytes: [UInt8]
        var width: Int
        var height: Int
    }

    /// Samples `count` frames spread over `source` (every frame of a live source), pre-processed;
    /// every `holdEvery`-th is held back, the rest appended to `file`.
    static func sample(
        _ source: String, count: Int, input: ModelSpec.InputSpec, into file: URL?, holdEvery: Int?,
        progress: (String) -> Void
    ) throws -> (calibrated: Int, held: [HeldFrame]) {
        let decoder = try VideoDecoder(input: source)
        let stride = max(1, (decoder.info.frameCount ?? count) / max(count, 1))
        var preprocessor = Preprocessor(input: input)
        var buffer = [UInt8](repeating: 0, count: preprocessor.bytesPerFrame)
        var out: FileHandle?
        if let file {
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw PipelineError("\(file.path): cannot write the calibration frames")
            }
            out = try FileHandle(forWritingTo: file)
        }
        defer { try? out?.close() }
        var taken = 0
        var calibrated = 0
        var held: [HeldFrame] = []
        while taken < count, let frame = try decoder.nextFrame() {
            guard frame.index % stride == 0 else { continue }
            frame.pixels.withUnsafeBufferPointer { pixels in
                buffer.withUnsafeMutableBytes { destination in
                    preprocessor.run(
                        RGBImage(width: frame.width, height: frame.height, pixels: pixels), into: destination)
                }
            }
            taken += 1
            if let every = holdEvery, taken % every == 0 {
                held.append(HeldFrame(bytes: buffer, width: frame.width, height: frame.height))
            } else if let out {
                out.write(Data(buffer))
                calibrated += 1
            }
            if taken % 50 == 0 { progress("decoded \(taken) of \(count) frames from \(source)") }
        }
        return (calibrated, held)
    }

    /// Runs `engine` over the frames at batch 1: each frame's detections and the seconds it took.
    static func detect(_ engine: OpenVINOEngine, _ frames: [HeldFrame]) throws -> (
        detections: [[Detection]], seconds: Double
    ) {
        let slot = try engine.slots(batch: 1, count: 1)[0]
        try slot.fill([frames[0].bytes])  // the first run allocates: not timed
        try slot.start()
        try slot.wait()
        var detections: [[Detection]] = []
        let start = Core.Clock.now
        for frame in frames {
            try slot.fill([frame.bytes])
            try slot.start()
            try slot.wait()
            detections.append(
                try engine.decoder.decode(try slot.outputs(), index: 0, width: frame.width, height: frame.height))
        }
        return (detections, Core.Clock.now - start)
    }

    /// Runs the script; its progress goes to standard error as it comes; returns the method it reports.
    static func runScript(_ python: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.standardError
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw PipelineError("\(python): cannot run it (\(error)); run scripts/bootstrap.sh or give --python")
        }
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw PipelineError("quantization failed (\(python) quantize.py exited \(process.terminationStatus))")
        }
        let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        /// The script's last line: what it made.
        struct Made: Decodable { var method: String }
        guard let made = try? JSONDecoder().decode(Made.self, from: Data(last.utf8)) else {
            throw PipelineError("quantize.py reported nothing it made")
        }
        return made.method
    }

    static func write(_ spec: ModelSpec, to folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(spec).write(to: URL(fileURLWithPath: folder + "/" + ModelSpec.fileName))
    }
}
