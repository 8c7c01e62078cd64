import Foundation
import TestSupport
import Testing

@testable import VideoIO

@Suite("Video decoding")
struct VideoDecoderTests {
    @Test("vtest.avi decodes to 795 frames, in order, with exact pts")
    func decodesEveryFrame() throws {
        let decoder = try VideoDecoder(input: TestAssets.video)
        #expect(decoder.info.width == 768)
        #expect(decoder.info.height == 576)
        #expect(decoder.info.frameRate == 10)
        #expect(decoder.info.frameCount == 795)
        var count = 0
        while let frame = try decoder.nextFrame() {
            #expect(frame.index == count)
            #expect(abs(frame.pts - Double(count) / 10) < 1e-9, "frame \(count) pts \(frame.pts)")
            #expect(frame.pixels.count == 768 * 576 * 3)
            count += 1
        }
        #expect(count == 795)
        // Past the end it stays at the end.
        #expect(try decoder.nextFrame() == nil)
    }

    @Test("A missing file is an open error naming the file")
    func missingFile() {
        #expect {
            _ = try VideoDecoder(input: "/nonexistent/clip.mp4")
        } throws: { error in
            let e = error as? VideoError
            return e?.kind == .open && e?.description == "/nonexistent/clip.mp4: no such file"
        }
    }

    @Test("A file that is not video is refused")
    func notVideo() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("notes.mp4").path
        try Data("this is not a video\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try VideoDecoder(input: path)
        } throws: { error in
            (error as? VideoError)?.kind == .notVideo && "\(error)".hasPrefix(path)
        }
    }

    @Test("A truncated video yields what is there, then reports the cut")
    func truncated() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cut.avi").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: TestAssets.video))
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: path))
        let decoder = try VideoDecoder(input: path)
        var count = 0
        var caught: VideoError?
        do {
            while try decoder.nextFrame() != nil { count += 1 }
        } catch {
            caught = error
        }
        #expect(count > 100 && count < 795, "decoded \(count) frames of a third of the file")
        #expect(caught?.kind == .truncated)
        #expect(caught?.message.contains("after \(count) of 795 frames") == true, "\(String(describing: caught))")
    }

    @Test("An unreachable URL fails with FFmpeg's reason, not a time-out")
    func unreachable() {
        let url = "http://127.0.0.1:\(closedPort())/stream.mp4"
        // Timing is a benchmark, not a test: an open error (not .timeout) with FFmpeg's "refused" is
        // the refusal itself, not the time-out.
        #expect {
            _ = try VideoDecoder(input: url, options: DecoderOptions(timeout: 5))
        } throws: { error in
            (error as? VideoError)?.kind == .open && "\(error)".contains("refused")
        }
    }

    @Test("A silent stream times out instead of hanging")
    func silent() throws {
        let server = try SilentServer()
        let url = "http://127.0.0.1:\(server.port)/live.ts"
        // Timing is a benchmark, not a test: the reason given names the configured time-out.
        #expect {
            _ = try VideoDecoder(input: url, options: DecoderOptions(timeout: 1))
        } throws: { error in
            let text = "\(error)"
            return (error as? VideoError)?.kind == .timeout && text.hasPrefix(url) && text.contains("within 1.0 s")
        }
    }

    @Test("Encoding then decoding keeps frame count and size")
    func encodeRoundTrip() throws {
        let dir = TestAssets.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.mp4").path
        let source = try VideoDecoder(input: TestAssets.video)
        let encoder = try VideoEncoder(output: path, width: 768, height: 576, frameRate: 10)
        var first: VideoFrame?
        for _ in 0..<20 {
            let frame = try #require(try source.nextFrame())
            if first == nil { first = frame }
            try encoder.write(rgb: frame.pixels)
        }
        try encoder.finish()
        let back = try VideoDecoder(input: path)
        #expect(back.info.width == 768 && back.info.height == 576)
        var frames: [VideoFrame] = []
        while let f = try back.nextFrame() { frames.append(f) }
        #expect(frames.count == 20)
        // Lossy, but the picture is the same picture: mean absolute error small.
        let a = try #require(first).pixels
        let b = frames[0].pixels
        let mae = zip(a, b).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) } / a.count
        #expect(mae < 6, "mean absolute error \(mae)")
    }

    @Test("Five open/decode/close cycles leave memory flat")
    func openCloseMemory() throws {
        func cycle() throws {
            let decoder = try VideoDecoder(input: TestAssets.video)
            for _ in 0..<60 { _ = try decoder.nextFrame() }
        }
        try cycle()
        let before = TestAssets.residentBytes()
        for _ in 0..<5 { try cycle() }
        let after = TestAssets.residentBytes()
        #expect(after - before < 8 << 20, "RSS grew \((after - before) >> 10) KiB over 5 cycles")
    }
}
