import Foundation
import Testing

@testable import Vision

@Suite("Pre-processing")
struct PreprocessorTests {
    /// A 4x4 RGB image whose red channel is 10*x + 100*y... scaled to stay in a byte.
    static func ramp(width: Int, height: Int) -> [UInt8] {
        var p: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width { p += [UInt8(10 * x + 40 * y), UInt8(200 - 10 * x), UInt8(7)] }
        }
        return p
    }

    static func input(
        _ w: Int, _ h: Int, _ mode: ResizeMode, type: ModelSpec.ElementType = .u8, layout: ModelSpec.Layout = .nhwc
    )
        -> ModelSpec.InputSpec
    {
        .init(name: "x", width: w, height: h, layout: layout, color: .rgb, type: type, resize: mode)
    }

    static func run(_ spec: ModelSpec.InputSpec, _ pixels: [UInt8], _ w: Int, _ h: Int) -> [UInt8] {
        var pre = Preprocessor(input: spec)
        var out = [UInt8](repeating: 0, count: pre.bytesPerFrame)
        pixels.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBytes { pre.run(RGBImage(width: w, height: h, pixels: px), into: $0) }
        }
        return out
    }

    @Test("TF legacy bilinear halving samples the top-left pixel of each 2x2 block")
    func tfLegacyHalving() {
        let src = Self.ramp(width: 4, height: 4)
        let out = Self.run(Self.input(2, 2, .tfLegacyBilinear), src, 4, 4)
        // source = dest * 2: dest (x, y) reads source (2x, 2y) exactly.
        #expect(out[0] == 0)  // (0,0) red
        #expect(out[3] == 20)  // (1,0) red = 10*2
        #expect(out[6] == 80)  // (0,1) red = 40*2
        #expect(out[9] == 100)  // (1,1) red
        #expect(out[1] == 200 && out[4] == 180)
    }

    @Test("Half-pixel bilinear halving averages each 2x2 block")
    func halfPixelHalving() {
        let src = Self.ramp(width: 4, height: 4)
        let out = Self.run(Self.input(2, 2, .halfPixelBilinear), src, 4, 4)
        // source = (dest + 0.5) * 2 - 0.5 = 0.5, 2.5: the mean of the block.
        #expect(out[0] == 25)  // mean of 0,10,40,50
        #expect(out[9] == 125)  // mean of 20+80,30+80,...
    }

    @Test("TF legacy upscaling interpolates and clamps at the edge")
    func tfLegacyUpscale() {
        let src: [UInt8] = [0, 0, 0, 100, 100, 100]  // 2x1: black, grey
        let out = Self.run(Self.input(4, 1, .tfLegacyBilinear), src, 2, 1)
        // source x = 0, 0.5, 1, 1.5 -> 0, 50, 100, 100 (clamped)
        #expect(stride(from: 0, to: 12, by: 3).map { out[$0] } == [0, 50, 100, 100])
    }

    @Test("Float NCHW input with mean and std, BGR order")
    func floatPlanar() {
        var spec = Self.input(1, 1, .nearest, type: .f32, layout: .nchw)
        spec.color = .bgr
        spec.mean = [1, 2, 3]
        spec.std = [2, 2, 2]
        let out = Self.run(spec, [11, 22, 33], 1, 1)
        let floats = out.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        // Channel 0 is blue (33), then green, then red.
        let expected: [Float] = [16, 10, 4]  // (33 - 1) / 2, (22 - 2) / 2, (11 - 3) / 2
        #expect(floats == expected)
    }
}

@Suite("Sidecars and decoders")
struct SidecarTests {
    @Test("The bundled sidecar loads and names the TF legacy resize")
    func bundled() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let (spec, file) = try ModelSpec.load(path: root.appendingPathComponent("models/pedestrian-ssdlite/1").path)
        #expect(spec.tag == "pedestrian-ssdlite@1")
        #expect(spec.input.resize == .tfLegacyBilinear)
        #expect(file.hasSuffix("models/pedestrian-ssdlite/1/frozen_inference_graph.pb"))
    }

    @Test("A sidecar with an unknown layout says which ones there are")
    func unknownLayout() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let bundled = root.appendingPathComponent("models/pedestrian-ssdlite/1/model.json")
        let text = try String(contentsOf: bundled, encoding: .utf8).replacingOccurrences(of: "NHWC", with: "NHWD")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sidecar-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(text.utf8).write(to: dir.appendingPathComponent("model.json"))
        #expect {
            _ = try ModelSpec.load(path: dir.path)
        } throws: { error in
            "\(error)".hasSuffix("model.json: input layout must be NHWC or NCHW, not NHWD")
        }
    }

    @Test("A sidecar with a missing field names the field")
    func missingField() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sidecar-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"name":"x","version":"1"}"#.utf8).write(to: dir.appendingPathComponent("model.json"))
        #expect {
            _ = try ModelSpec.load(path: dir.path)
        } throws: { error in
            "\(error)".contains("model.json: missing field")
        }
    }

    @Test("SSD outputs map to pixel boxes, x before y, below-threshold dropped")
    func ssdDecode() throws {
        let spec = ModelSpec(
            name: "d", version: "1", task: "detection", file: "m.pb", decoder: "ssd", labels: ["1": "person"],
            input: PreprocessorTests.input(300, 300, .tfLegacyBilinear), outputs: [:], scoreThreshold: 0.5)
        let decoder = try makeDecoder(for: spec)
        let outputs: [String: FloatTensor] = [
            "boxes": FloatTensor(shape: [1, 2, 4], values: [0.1, 0.2, 0.5, 0.6, 0, 0, 1, 1]),
            "scores": FloatTensor(shape: [1, 2], values: [0.9, 0.4]),
            "classes": FloatTensor(shape: [1, 2], values: [1, 1]),
            "count": FloatTensor(shape: [1], values: [2]),
        ]
        let found = try decoder.decode(outputs, index: 0, width: 1000, height: 500)
        #expect(found.count == 1)
        #expect(found[0].label == "person")
        #expect(found[0].box.map { $0.rounded() } == [200, 50, 600, 250])
    }
}
