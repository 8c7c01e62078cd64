import Foundation
import TestSupport
import Testing

/// `batchline run` as a user runs it: exit status, one-line errors naming the input, outputs written.
@Suite("batchline run", .serialized)
struct CLITests {
    /// Checks the shape every failure must have: non-zero exit, no hang, one line on stderr naming `input`.
    func expectCleanFailure(_ result: CommandResult, naming input: String, saying words: String) {
        #expect(!result.timedOut, "hung: \(result.stderr)")
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.stderr)")
        let line = String(lines.first ?? "")
        #expect(line.hasPrefix("batchline: error: "), "\(line)")
        #expect(line.contains(input), "\(line) should name \(input)")
        #expect(line.lowercased().contains(words.lowercased()), "\(line) should say \(words)")
    }

    @Test("The main job writes events, stats and an annotated video")
    func mainJob() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let events = dir.appendingPathComponent("events.jsonl").path
        let stats = dir.appendingPathComponent("stats.json").path
        let video = dir.appendingPathComponent("annotated.mp4").path
        let result = try runBatchline([
            "run", "--source", TestAssets.video, "--model", TestAssets.detector, "--events", events, "--stats", stats,
            "--annotate", video, "--max-frames", "25", "--batch", "2",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("25 frames"), "\(result.stdout)")
        let lines = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 25)
        #expect(lines[0].hasPrefix(#"{"stream":0,"frame":0,"pts":0.0,"model":"pedestrian-ssdlite@1","batch":2,"#))
        let summary =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stats))) as? [String: Any]
        for key in ["frames", "dropped", "seconds", "fps", "stages", "batch_sizes"] {
            #expect(summary?[key] != nil, "stats lacks \(key)")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: video)[.size] as? Int) ?? 0
        #expect(size > 10_000, "annotated video is \(size) bytes")
    }

    @Test("An HTTP stream is read like a file")
    func httpSource() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try HTTPFileServer(directory: TestAssets.root.appendingPathComponent("assets").path)
        let events = dir.appendingPathComponent("events.jsonl").path
        let url = "http://127.0.0.1:\(server.port)/vtest.avi"
        let r = try runBatchline([
            "run", "--source", url, "--model", TestAssets.detector, "--events", events, "--max-frames", "30",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 30)
        #expect(lines.last?.hasPrefix(#"{"stream":0,"frame":29,"pts":2.9,"#) == true)
    }

    @Test("--model REPO/<name> serves the latest version; --model-version pins one")
    func repository() throws {
        let root = TestAssets.temporaryDirectory("repo")
        defer { try? FileManager.default.removeItem(at: root) }
        for v in [1, 2] {
            let dir = root.appendingPathComponent("people/\(v)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let sidecar = try String(contentsOfFile: TestAssets.detector + "/model.json", encoding: .utf8)
                .replacingOccurrences(of: "\"version\": \"1\"", with: "\"version\": \"\(v)\"")
            try sidecar.write(to: dir.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(
                atPath: TestAssets.detectorFile, toPath: dir.appendingPathComponent("frozen_inference_graph.pb").path)
        }
        let events = root.appendingPathComponent("events.jsonl").path
        let model = root.appendingPathComponent("people").path
        for (extra, tag) in [([String](), "people@2"), (["--model-version", "1"], "people@1")] {
            let r = try runBatchline(
                ["run", "--source", TestAssets.video, "--model", model, "--max-frames", "3", "--events", events] + extra
            )
            #expect(r.status == 0, "\(r.stderr)")
            let first = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n").first ?? ""
            #expect(first.contains("\"model\":\"\(tag)\""), "\(first)")
        }
        let missing = try runBatchline(["run", "--source", TestAssets.video, "--model", model, "--model-version", "5"])
        expectCleanFailure(missing, naming: "people/5", saying: "no such version")
    }

    @Test("Missing source file")
    func missingSource() throws {
        let r = try runBatchline(["run", "--source", "/nope/missing.avi", "--model", TestAssets.detector])
        expectCleanFailure(r, naming: "/nope/missing.avi", saying: "no such file")
    }

    @Test("A source that is not video")
    func notVideo() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("readme.avi").path
        try Data(repeating: 0x41, count: 5000).write(to: URL(fileURLWithPath: path))
        let r = try runBatchline(["run", "--source", path, "--model", TestAssets.detector])
        expectCleanFailure(r, naming: path, saying: "video")
    }

    @Test("A truncated video: frames that are there are written, then the cut is reported")
    func truncated() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cut.avi").path
        let events = dir.appendingPathComponent("events.jsonl").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: TestAssets.video))
        try bytes.prefix(bytes.count / 8).write(to: URL(fileURLWithPath: path))
        let r = try runBatchline(["run", "--source", path, "--model", TestAssets.detector, "--events", events])
        expectCleanFailure(r, naming: path, saying: "cut")
        let written = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n").count
        #expect(written > 20 && r.stderr.contains("after \(written) of 795 frames"), "\(written) events; \(r.stderr)")
    }

    @Test("An unreachable URL")
    func unreachable() throws {
        let url = "http://127.0.0.1:\(closedPort())/cam.mp4"
        let r = try runBatchline(["run", "--source", url, "--model", TestAssets.detector], timeout: 30)
        expectCleanFailure(r, naming: url, saying: "refused")
    }

    @Test("A silent URL times out")
    func silentURL() throws {
        let server = try SilentServer()
        let url = "http://127.0.0.1:\(server.port)/cam.ts"
        let r = try runBatchline(
            ["run", "--source", url, "--model", TestAssets.detector, "--timeout", "1"], timeout: 30)
        expectCleanFailure(r, naming: url, saying: "within 1.0 s")
    }

    @Test("A missing model")
    func missingModel() throws {
        let r = try runBatchline(["run", "--source", TestAssets.video, "--model", "/nope/model.pb"])
        expectCleanFailure(r, naming: "/nope/model.pb", saying: "no such file")
    }

    @Test("A corrupt model file")
    func corruptModel() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(
            atPath: TestAssets.detector + "/model.json", toPath: dir.appendingPathComponent("model.json").path)
        let pb = dir.appendingPathComponent("frozen_inference_graph.pb").path
        try Data((0..<20000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: pb))
        let r = try runBatchline(["run", "--source", TestAssets.video, "--model", dir.path])
        expectCleanFailure(r, naming: pb, saying: "cannot read the model")
    }

    @Test("A sidecar that does not match the model")
    func sidecarMismatch() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = try String(contentsOfFile: TestAssets.detector + "/model.json", encoding: .utf8)
            .replacingOccurrences(of: "\"num_detections\"", with: "\"count\"")
        try text.write(toFile: dir.appendingPathComponent("model.json").path, atomically: true, encoding: .utf8)
        let pb = dir.appendingPathComponent("frozen_inference_graph.pb").path
        try FileManager.default.createSymbolicLink(atPath: pb, withDestinationPath: TestAssets.detectorFile)
        let r = try runBatchline(["run", "--source", TestAssets.video, "--model", dir.path])
        expectCleanFailure(r, naming: pb, saying: "does not match its sidecar")
    }

    @Test(
        "--infer-every without --track, 0, negative, past 300, not a number, or auto without the batch size manager: one line naming the flag",
        arguments: [
            ([], "3", "needs --track"), (["--track"], "0", "within 1...300"), (["--track"], "301", "within 1...300"),
            (["--track"], "3.5", "whole number"), (["--track"], "often", "or auto"),
            (["--track"], "auto", "needs the batch size manager"),
            (["--track", "--batch", "4"], "auto", "--batch auto"),
        ])
    func badInterval(_ extra: [String], _ value: String, _ says: String) throws {
        let r = try runBatchline(
            ["run", "--source", TestAssets.video, "--model", TestAssets.detector, "--infer-every", value] + extra)
        expectCleanFailure(r, naming: "--infer-every \(value)", saying: says)
    }

    @Test("--motion without --track: one line naming the flag")
    func motionNeedsTrack() throws {
        let r = try runBatchline(["run", "--source", TestAssets.video, "--model", TestAssets.detector, "--motion"])
        expectCleanFailure(r, naming: "--motion", saying: "needs --track")
    }

    @Test("--score-threshold outside 0...1: one line naming the flag", arguments: ["1.5", "-0.1"])
    func badScoreThreshold(_ value: String) throws {
        let r = try runBatchline(
            ["run", "--source", TestAssets.video, "--model", TestAssets.detector, "--score-threshold=\(value)"])
        expectCleanFailure(r, naming: "--score-threshold", saying: "within 0...1")
    }

    @Test("Batch size 0 and absurd", arguments: ["0", "1000000"])
    func badBatch(_ batch: String) throws {
        let r = try runBatchline([
            "run", "--source", TestAssets.video, "--model", TestAssets.detector, "--batch", batch,
        ])
        expectCleanFailure(r, naming: "batch size \(batch)", saying: "out of range")
    }
}

/// `batchline models` against a running `batchline run`, as a user drives it from another terminal.
@Suite("batchline models", .serialized)
struct ModelsCLITests {
    @Test("activate, a bad version, rollback and status reach the run over its socket; Ctrl-C ends the run cleanly")
    func controlARun() throws {
        let root = TestAssets.temporaryDirectory("repo")
        defer { try? FileManager.default.removeItem(at: root) }
        let classifier = TestAssets.root.appendingPathComponent("models/ppocr-cls/1")
        for v in [1, 2] {
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent("cls"), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: classifier, to: root.appendingPathComponent("cls/\(v)"))
        }
        let model = root.appendingPathComponent("cls").path
        let events = root.appendingPathComponent("events.jsonl").path
        let run = Process()
        run.executableURL = TestAssets.executable
        run.arguments = [
            "run", "--source", TestAssets.video, "--model", model, "--model-version", "1", "--realtime",
            "--events", events,
        ]
        let log = root.appendingPathComponent("run.stderr")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        run.standardOutput = FileHandle.nullDevice
        run.standardError = try FileHandle(forWritingTo: log)
        try run.run()
        defer { if run.isRunning { kill(run.processIdentifier, SIGKILL) } }

        // The run's socket is found from the model folder alone (once its model is ready: waited for,
        // 60 s only against a hang).
        var status = try runBatchline(["models", "status", model], timeout: 60)
        let listening = Date()
        while status.status != 0 && Date().timeIntervalSince(listening) < 60 {
            Thread.sleep(forTimeInterval: 0.1)
            status = try runBatchline(["models", "status", model], timeout: 60)
        }
        #expect(status.status == 0 && status.stdout.contains("\"version\":1"), "\(status.stderr)")
        let activate = try runBatchline(["models", "activate", model, "2"], timeout: 60)
        #expect(activate.status == 0 && activate.stdout.contains("\"outcome\":\"swapped\""), "\(activate.stderr)")
        // Frames on version 2 reach the file before the rollback (waited for, not timed: a fast machine
        // swaps and rolls back within a second of the start).
        #expect(waitForEventLine(events, containing: "\"model\":\"cls@2\""))
        let missing = try runBatchline(["models", "activate", model, "7"], timeout: 60)
        #expect(missing.status == 1)
        #expect(missing.stderr.split(separator: "\n").count == 1 && missing.stderr.contains("no such version"))
        let rollback = try runBatchline(["models", "rollback", model], timeout: 60)
        #expect(rollback.status == 0 && rollback.stdout.contains("\"to\":1"), "\(rollback.stderr)")
        status = try runBatchline(["models", "status", model], timeout: 60)
        #expect(status.stdout.contains("\"version\":1"))
        let swappedLines = (try? String(contentsOfFile: events, encoding: .utf8))?.split(separator: "\n").count ?? 0
        #expect(waitForEventLine(events, containing: "\"model\":\"cls@1\"", after: swappedLines))

        kill(run.processIdentifier, SIGINT)
        let start = Date()
        while run.isRunning && Date().timeIntervalSince(start) < 60 { Thread.sleep(forTimeInterval: 0.05) }
        #expect(
            !run.isRunning && run.terminationReason == .exit && run.terminationStatus == 0,
            "Ctrl-C ends the run with its outputs complete: \(run.terminationReason == .exit ? "exit" : "signal") \(run.terminationStatus): \((try? String(contentsOf: log, encoding: .utf8))?.suffix(2000) ?? "")"
        )
        let lines = try String(contentsOfFile: events, encoding: .utf8).split(separator: "\n")
        #expect(lines.count > swappedLines && lines.count < 795)
        #expect(lines.enumerated().allSatisfy { $1.contains("\"frame\":\($0),") }, "no frame lost at the stop")
        #expect(lines.contains { $0.contains("\"model\":\"cls@2\"") } && lines.last!.contains("\"model\":\"cls@1\""))
        let gone = try runBatchline(["models", "status", model], timeout: 60)
        #expect(gone.status == 1 && gone.stderr.contains("no batchline run is listening"))
    }
}

/// Waits (60 s only against a hang) until the events file holds a line containing `text` past its first
/// `after` lines; true when it does.
private func waitForEventLine(_ path: String, containing text: String, after: Int = 0) -> Bool {
    let start = Date()
    while Date().timeIntervalSince(start) < 60 {
        if let content = try? String(contentsOfFile: path, encoding: .utf8),
            content.split(separator: "\n").dropFirst(after).contains(where: { $0.contains(text) })
        {
            return true
        }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return false
}
