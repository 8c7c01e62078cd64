import Foundation
import TestSupport
import Testing

@testable import InferenceBackend

@Suite("OpenVINO backend", .serialized)
struct InferenceBackendTests {
    @Test("The detector reads with the ports its sidecar expects")
    func readsDetector() throws {
        let core = try InferenceCore()
        #expect(try core.availableDevices().contains("CPU"))
        let model = try core.readModel(path: TestAssets.detectorFile)
        let input = try #require(model.port(named: "image_tensor", input: true))
        #expect(input.elementType == .u8)
        #expect(input.shape == [nil, nil, nil, 3])
        for name in ["detection_boxes", "detection_scores", "detection_classes", "num_detections"] {
            #expect(model.port(named: name, input: false) != nil, "output \(name)")
        }
        #expect(model.port(named: "no_such_tensor", input: false) == nil)
    }

    @Test("A corrupt model file fails with OpenVINO's own message")
    func corruptModel() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("broken.pb").path
        let good = try Data(contentsOf: URL(fileURLWithPath: TestAssets.detectorFile))
        try good.prefix(4096).write(to: URL(fileURLWithPath: path))
        let core = try InferenceCore()
        #expect {
            _ = try core.readModel(path: path)
        } throws: { error in
            guard let e = error as? InferenceError else { return false }
            return e.kind == .load && e.subject == path && !e.message.contains("\n") && e.message.count > 20
        }
    }

    @Test("A shape the model cannot take is a shape error")
    func badReshape() throws {
        let core = try InferenceCore()
        let model = try core.readModel(path: TestAssets.detectorFile)
        #expect(throws: InferenceError.self) { try model.reshape(input: "image_tensor", to: [1, 300, 300]) }
    }

    @Test("1,000 inferences leave memory flat")
    func inferenceMemory() throws {
        let core = try InferenceCore()
        let model = try core.readModel(path: TestAssets.detectorFile)
        try model.reshape(input: "image_tensor", to: [1, 300, 300, 3])
        let request = try model.compile(config: ["PERFORMANCE_HINT": "LATENCY"]).makeRequest()
        var rng = SystemRandomNumberGenerator()
        try request.withInput { bytes in
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        }
        func step() throws {
            try request.infer()
            let boxes = try request.output(at: 0)
            #expect(boxes.values.count == boxes.shape.reduce(1, *))
        }
        for _ in 0..<100 { try step() }
        let before = TestAssets.residentBytes()
        for _ in 0..<900 { try step() }
        let after = TestAssets.residentBytes()
        #expect(after - before < 8 << 20, "RSS grew \((after - before) >> 10) KiB over 900 inferences")
    }
}

@Suite("OpenVINO backend lifetime", .serialized)
struct InferenceLifetimeTests {
    @Test("Five load/compile/infer/free cycles of the model leave memory flat")
    func modelCycles() throws {
        let core = try InferenceCore()
        func cycle() throws {
            let model = try core.readModel(path: TestAssets.detectorFile)
            try model.reshape(input: "image_tensor", to: [1, 300, 300, 3])
            let request = try model.compile().makeRequest()
            try request.infer()
            _ = try request.output(at: 0)
        }
        try cycle()
        try cycle()
        let before = TestAssets.residentBytes()
        for _ in 0..<5 { try cycle() }
        let after = TestAssets.residentBytes()
        #expect(after - before < 16 << 20, "RSS grew \((after - before) >> 10) KiB over 5 model cycles")
    }
}
