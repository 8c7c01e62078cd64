import Foundation
import TestSupport
import Testing

@testable import Server

@Suite("Open Inference Protocol", .serialized)
struct InferenceProtocolTests {
    @Test(
        "NVIDIA's tritonclient: metadata, readiness, infer with binary and JSON tensors equal to OpenVINO's Python API, repository index, unload and load, statistics; malformed requests refused with 400"
    )
    func tritonClient() async throws {
        let dir = TestAssets.temporaryDirectory("oip-events")
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try ServeProcess(
            config: ServeTests.config(
                events: dir.path,
                streams: """
                      - { id: cam, source: \(TestAssets.video), model: pedestrian-ssdlite, loop: true, realtime: true }
                    """))
        let ready = try await serve.poll("/v2/health/ready", timeout: 60) { $0.status == 200 }
        try #require(ready.status == 200, "never ready: \(serve.stderr)")
        let hostPort = serve.address.replacingOccurrences(of: "http://", with: "")
        // The requests share batches with the camera's frames: it runs meanwhile.
        let result = try runProcess(
            URL(fileURLWithPath: TestAssets.venvPython),
            [
                TestAssets.helper("triton_client_check.py"), hostPort, "pedestrian-ssdlite", TestAssets.detectorFile,
                TestAssets.video, "ppocr-cls",
            ], timeout: 120)
        print(result.stdout)
        #expect(result.status == 0, "tritonclient checks failed:\n\(result.stdout)\n\(result.stderr.suffix(3000))")
        #expect(result.stdout.contains("all checks passed"))
        try await rawRequests(serve)
        let camera = try await serve.request("GET", "/api/v1/streams/cam")
        #expect(camera.object?["state"] as? String == "running", "the camera kept running: \(camera.object ?? [:])")
        let (status, _) = serve.stop()
        #expect(status == 0)
    }

    /// Requests tritonclient does not make: a frame as nested lists (decoded in order, answered as
    /// JSON), and malformed bodies refused with 400 naming the field.
    func rawRequests(_ serve: ServeProcess) async throws {
        let path = "/v2/models/pedestrian-ssdlite/infer"
        let rows = (0..<300).map { y in
            "[" + (0..<300).map { x in "[\((x + y) % 256),\(x % 256),\(y % 256)]" }.joined(separator: ",") + "]"
        }
        let nested = """
            {"id": "nested-1", "inputs": [{"name": "image_tensor", "shape": [1, 300, 300, 3], "datatype": "UINT8",
            "data": [[\(rows.joined(separator: ","))]]}]}
            """
        let reply = try await serve.request("POST", path, body: Data(nested.utf8))
        #expect(reply.status == 200, "nested data: \(reply.status) \(reply.error ?? "")")
        let object = try #require(reply.object)
        #expect(object["id"] as? String == "nested-1" && object["model_name"] as? String == "pedestrian-ssdlite")
        #expect(object["model_version"] as? String == "1")
        let outputs = object["outputs"] as? [[String: Any]] ?? []
        #expect(
            Set(outputs.compactMap { $0["name"] as? String })
                == ["detection_boxes", "detection_classes", "detection_scores", "num_detections"])
        for output in outputs {
            let shape = output["shape"] as? [Int] ?? []
            let values = (output["data"] as? [Any])?.count
            #expect(shape.first == 1 && values == shape.reduce(1, *), "\(output["name"] ?? ""): \(shape)")
            #expect(output["datatype"] as? String == "FP32" && output["parameters"] == nil)
        }

        // An FP32 model takes JSON floats (the classifier: NCHW 3x48x192), loaded for this and unloaded.
        #expect(try await serve.request("POST", "/v2/repository/models/ppocr-cls/load", body: Data()).status == 200)
        let values: [String] = (0..<(3 * 48 * 192)).map { (i: Int) -> String in "\(Double(i % 255) / 127.5 - 1)" }
        let pixels = values.joined(separator: ",")
        let floats = #"{"inputs": [{"name": "x", "shape": [1, 3, 48, 192], "datatype": "FP32", "data": [\#(pixels)]}]}"#
        let classified = try await serve.request("POST", "/v2/models/ppocr-cls/infer", body: Data(floats.utf8))
        #expect(classified.status == 200, "FP32 JSON data: \(classified.status) \(classified.error ?? "")")
        let scores: [String: Any] = (classified.object?["outputs"] as? [[String: Any]])?.first ?? [:]
        let scoreShape = scores["shape"] as? [Int]
        let scoreCount = (scores["data"] as? [Any])?.count
        #expect(scoreShape == [1, 2] && scoreCount == 2, "\(scores)")
        #expect(try await serve.request("POST", "/v2/repository/models/ppocr-cls/unload", body: Data()).status == 200)

        let input = #""name": "image_tensor", "datatype": "UINT8""#
        let bad: [(body: String, error: String)] = [
            (
                #"{"inputs": [{\#(input), "shape": [1, 300, 300, 3], "data": [1, 2, 3]}]}"#,
                "inputs[0].data: 3 values, but shape [1, 300, 300, 3] holds 270000"
            ),
            (
                #"{"inputs": [{\#(input), "shape": [1, 1, 1, 3], "data": [[1, 2, 3, 4]]}]}"#,
                "inputs[0].data: more values than the shape holds (3)"
            ),
            (
                #"{"inputs": [{\#(input), "shape": [1, 1, 1, 3], "data": [1, 2.5, 3]}]}"#,
                "inputs[0].data[1]: UINT8 data holds integers 0...255 only"
            ),
            (#"{"inputs": [{\#(input), "shape": [1, 1, 1, 3], "data": [1, 2, 3]}]}"#, "inputs[0].shape: [1, 1, 1, 3]"),
            (#"{"inputs": [{\#(input), "shape": [1, -300, 300, 3]}]}"#, "inputs[0].shape: [1, -300, 300, 3]: every"),
            (#"{"inputs": [{\#(input), "shape": [1, 300.5, 300, 3]}]}"#, "inputs[0].shape[1]: expected an integer"),
            (#"{"inputs": [{\#(input), "shape": [65, 300, 300, 3]}]}"#, "inputs[0].shape: [65, 300, 300, 3] holds"),
            (#"{"inputs": [{"name": "image_tensor", "shape": [1, 300, 300, 3]}]}"#, "inputs[0].datatype: missing"),
            (#"{"inputs": [], "outputs": []}"#, "inputs: give a non-empty list of tensors"),
            (#"{"inputs": [{\#(input), "shape": [1, 300, 300, 3]}], "priority": 1}"#, "unknown key 'priority'"),
            ("[1, 2]", "the request header is not a JSON object"),
        ]
        for b in bad {
            let reply = try await serve.request("POST", path, body: Data(b.body.utf8))
            #expect(reply.status == 400, "\(b.body.prefix(100)): \(reply.status)")
            #expect(reply.error?.hasPrefix(b.error) == true, "\(b.body.prefix(100)): \(reply.error ?? "no error")")
        }
    }

    @Test("infer request JSON: nested data flattened in order at any depth, typed parameters, one-line refusals")
    func requestDecoding() throws {
        func decode(_ json: String, limit: Int = 1000) -> Result<InferenceProtocol.InferRequest, BodyRefusal> {
            InferenceProtocol.decodeRequest(Data(json.utf8), maxValues: limit, notAnObject: "not an object")
        }
        let nested = decode(
            #"""
            {"id": "a", "parameters": {"binary_data_output": false, "priority": 2, "timeout": 1.5, "tag": "x"},
             "inputs": [{"name": "in", "shape": [2, 2, 3], "datatype": "UINT8",
                         "data": [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 255]]]}],
             "outputs": [{"name": "out", "parameters": {"binary_data": true}}]}
            """#)
        let request = try nested.get()
        #expect(request.id == "a" && request.inputs[0].shape == [2, 2, 3])
        #expect(request.inputs[0].data == .uint8([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255]))
        #expect(
            request.parameters
                == [
                    "binary_data_output": .bool(false), "priority": .int(2), "timeout": .double(1.5),
                    "tag": .string("x"),
                ])
        #expect(request.outputs?.first?.parameters?["binary_data"] == .bool(true))
        // Flat, and ragged nesting, come out the same; FP32 takes integers and floats.
        let flatJSON = #"{"inputs": [{"name": "in", "shape": [2, 2], "datatype": "FP32", "data": [1, 2.5, -3, 4e2]}]}"#
        let flat = try decode(flatJSON).get()
        #expect(flat.inputs[0].data == .fp32([1, 2.5, -3, 400]))
        let raggedJSON = #"{"inputs": [{"name": "in", "shape": [4], "datatype": "FP64", "data": [1, [2, [3]], 4]}]}"#
        let ragged = try decode(raggedJSON).get()
        #expect(ragged.inputs[0].data == .fp64([1, 2, 3, 4]))
        #expect(InferenceProtocol.TensorData.fp32([1]).bytes == [0, 0, 0x80, 0x3F])

        let deep = String(repeating: "[", count: 17) + "1" + String(repeating: "]", count: 17)
        let refusals: [(json: String, message: String)] = [
            (
                #"{"inputs": [{"name": "in", "shape": [3], "datatype": "UINT8", "data": [1, 2]}]}"#,
                "inputs[0].data: 2 values, but shape [3] holds 3"
            ),
            (
                #"{"inputs": [{"name": "in", "shape": [1, 2], "datatype": "UINT8", "data": [[1], [256]]}]}"#,
                "inputs[0].data[1][0]: UINT8 data holds integers 0...255 only"
            ),
            (
                #"{"inputs": [{"name": "in", "shape": [1], "datatype": "FP32", "data": [null]}]}"#,
                "inputs[0].data[0]: FP32 data holds numbers within FP32's range only"
            ),
            (
                #"{"inputs": [{"name": "in", "shape": [1], "datatype": "UINT8", "data": \#(deep)}]}"#,
                "inputs[0].data" + String(repeating: "[0]", count: 16) + ": lists nested more than 16 deep"
            ),
            (
                #"{"inputs": [{"name": "in", "shape": [40, 40], "datatype": "UINT8"}]}"#,
                "inputs[0].shape: [40, 40] holds more values than the model takes in one request (1000)"
            ),
            (
                #"{"inputs": [{"name": "in", "shape": [4611686018427387904, 4], "datatype": "UINT8"}]}"#,
                "inputs[0].shape: [4611686018427387904, 4] holds more values"
            ),
            (
                #"{"inputs": [{"name": "in", "shape": [0], "datatype": "UINT8"}]}"#,
                "inputs[0].shape: [0]: every dimension must be positive"
            ),
            (#"{"inputs": [{"name": 7, "shape": [1], "datatype": "UINT8"}]}"#, "inputs[0].name: expected a string"),
            (
                #"{"inputs": [{"name": "in", "shape": [1], "datatype": "UINT8", "parameters": {"p": [1]}}]}"#,
                "inputs[0].parameters.p: expected true, false, a number or a string"
            ),
            (#"{"inputs": {"name": "in"}}"#, "inputs: expected a list"),
            (#"{"inputs": null}"#, "inputs: expected a list, not null"),
            (#"{"id": "x"}"#, "inputs: give a non-empty list of tensors"),
            (#"{"inputs": [], "sizez": 1}"#, "unknown key 'sizez' (known: id, parameters, inputs, outputs)"),
            ("not json", "not an object"),
        ]
        for r in refusals {
            switch decode(r.json) {
            case .success: Issue.record("\(r.json) decoded")
            case .failure(let refusal):
                #expect("\(refusal.status)".hasPrefix("400"))
                #expect(refusal.message.hasPrefix(r.message), "\(r.json): \(refusal.message)")
                #expect(!refusal.message.contains("\n"))
            }
        }
    }
}
