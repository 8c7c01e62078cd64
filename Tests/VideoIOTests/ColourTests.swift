import Foundation
import TestSupport
import Testing

@testable import VideoIO

/// The RGB Batchline decodes is what the tools people use give: the FFmpeg CLI's `-pix_fmt rgb24`
/// (the same libavcodec) on every frame, and OpenCV's `VideoCapture` (BGR, turned to RGB), bit for
/// bit. OpenCV's wheel bundles its own, newer FFmpeg (libavcodec 62), whose MPEG-4 Part 2 decoder
/// rounds a few pixels of inter frames differently from Debian's 5.1 (the FFmpeg CLI agrees with
/// Batchline there): for MPEG-4 the key frame is compared exactly and inter frames within 1e-4.
@Suite("Decoded colours")
struct ColourTests {
    static let codecs: [(name: String, encoder: String, file: String)] = [
        ("H.264", "libx264", "h264.mp4"), ("VP9", "libvpx-vp9", "vp9.webm"), ("HEVC", "libx265", "hevc.mp4"),
        ("MPEG-4", "mpeg4", "mpeg4.avi"),
    ]

    @Test("First frames equal OpenCV's, bit for bit", arguments: [0, 1, 2, 3])
    func equalsOpenCV(_ which: Int) throws {
        let codec = Self.codecs[which]
        let dir = TestAssets.temporaryDirectory("colours")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = dir.appendingPathComponent(codec.file).path
        let made = try runProcess(
            URL(fileURLWithPath: "/usr/bin/ffmpeg"),
            [
                "-loglevel", "error", "-y", "-i", TestAssets.video, "-frames:v", "6", "-vf", "scale=854:480", "-c:v",
                codec.encoder,
                "-pix_fmt", "yuv420p", clip,
            ], timeout: 60)
        try #require(made.status == 0, "ffmpeg could not make the \(codec.name) clip: \(made.stderr)")
        try expectSameAsOpenCV(clip, frames: 3, exactInterFrames: codec.encoder != "mpeg4")
        try expectSameAsFFmpegCLI(clip, frames: 3)
    }

    @Test("vtest.avi (MPEG-4 in AVI) equals OpenCV's for its first frames")
    func bundledVideo() throws {
        try expectSameAsOpenCV(TestAssets.video, frames: 5, exactInterFrames: false)
        try expectSameAsFFmpegCLI(TestAssets.video, frames: 5)
    }

    private func expectSameAsFFmpegCLI(_ clip: String, frames: Int) throws {
        let dir = TestAssets.temporaryDirectory("colours-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = dir.appendingPathComponent("frames.rgb")
        let result = try runProcess(
            URL(fileURLWithPath: "/usr/bin/ffmpeg"),
            [
                "-loglevel", "error", "-i", clip, "-frames:v", String(frames), "-f", "rawvideo", "-pix_fmt", "rgb24",
                raw.path,
            ], timeout: 60)
        try #require(result.status == 0, "ffmpeg failed: \(result.stderr)")
        try compare(clip, with: try Data(contentsOf: raw), frames: frames, tool: "the FFmpeg CLI") { _ in 0 }
    }

    private func expectSameAsOpenCV(_ clip: String, frames: Int, exactInterFrames: Bool) throws {
        let dir = TestAssets.temporaryDirectory("colours-raw")
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = dir.appendingPathComponent("frames.rgb")
        let result = try runProcess(
            URL(fileURLWithPath: TestAssets.venvPython),
            [TestAssets.helper("opencv_frames.py"), clip, String(frames), raw.path], timeout: 60)
        try #require(result.status == 0, "OpenCV failed: \(result.stderr)")
        try compare(clip, with: try Data(contentsOf: raw), frames: frames, tool: "OpenCV") { i in
            i == 0 || exactInterFrames ? 0 : 1e-4
        }
    }

    /// Decodes `frames` frames of `clip` and compares them with `reference` (raw RGB), allowing
    /// the fraction of differing bytes `allowed(i)` in frame `i`.
    private func compare(
        _ clip: String, with reference: Data, frames: Int, tool: String, allowed: (Int) -> Double
    ) throws {
        let decoder = try VideoDecoder(input: clip)
        let frameBytes = decoder.info.width * decoder.info.height * 3
        try #require(reference.count == frameBytes * frames, "\(tool) gave \(reference.count) bytes")
        for i in 0..<frames {
            let frame = try #require(try decoder.nextFrame())
            let expected = reference[(i * frameBytes)..<((i + 1) * frameBytes)]
            let differing = zip(frame.pixels, expected).reduce(0) { $0 + ($1.0 == $1.1 ? 0 : 1) }
            #expect(
                Double(differing) <= allowed(i) * Double(frameBytes),
                "\(clip) frame \(i): \(differing) of \(frameBytes) bytes differ from \(tool)")
        }
    }
}
