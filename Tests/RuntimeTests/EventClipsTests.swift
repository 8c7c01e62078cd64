import Foundation
import TestSupport
import Testing
import VideoIO

@testable import Runtime

/// Clips of events, remuxed from the source's own packets: the ring's rules on packets alone,
/// then whole clips cut from real videos (H.264 with B-frames in MP4 and in MPEG-TS, MS-MPEG4 in
/// AVI) and decoded again by FFmpeg.
@Suite("Event clips: a packet ring from keyframes, remuxed without re-encoding")
struct EventClipsTests {
    /// Real codec parameters (the ring needs a time base): vtest.avi's, 1/10 s.
    static func parameters() throws -> StreamParameters {
        try #require(try VideoDecoder(input: TestAssets.video).parameters)
    }

    /// A packet every tick (0.1 s), a keyframe every `gop`.
    static func packets(_ range: Range<Int64>, gop: Int64, bytes: Int = 10) -> [EncodedPacket] {
        range.map {
            EncodedPacket(data: [UInt8](repeating: 1, count: bytes), pts: $0, dts: $0, isKeyframe: $0 % gop == 0)
        }
    }

    @Test(
        "The ring starts at a keyframe, keeps the group that covers its window, and cuts from the keyframe before the start"
    )
    func ringRules() throws {
        var ring = PacketRing(window: 2, maxBytes: 1 << 20)
        ring.begin(try Self.parameters(), offset: 100)
        // Packets before the first keyframe are not kept.
        for p in Self.packets(3..<10, gop: 10) { ring.append(p) }
        #expect(ring.count == 0)
        for p in Self.packets(10..<57, gop: 10) { ring.append(p) }
        // Newest 5.6 s: the window reaches back to 3.6 s, so the group from 3.0 s stays.
        #expect(ring.count == 27)
        #expect(abs(try #require(ring.newestTime) - 105.6) < 1e-9)
        // 4.25 s to 5.0 s (pipeline time 104.25...105): shown from 4.2, decoded from the keyframe at 4.0.
        let cut = try #require(ring.cut(from: 104.25, to: 105))
        #expect(cut.start == 42 && cut.late == 0)
        #expect(cut.packets.first?.pts == 40 && cut.packets.last?.pts == 50)
        // Asked from before what is held: starts at the earliest held, and says how late.
        let early = try #require(ring.cut(from: 101, to: 104))
        #expect(early.start == 30 && abs(early.late - 2) < 1e-9)
        // Nothing held of it.
        #expect(ring.cut(from: 90, to: 95) == nil)
    }

    @Test("Past its bytes the oldest groups go; decode times that go back begin again at a keyframe")
    func ringBounds() throws {
        var ring = PacketRing(window: 100, maxBytes: 250)
        ring.begin(try Self.parameters(), offset: 0)
        for p in Self.packets(0..<40, gop: 10) { ring.append(p) }
        // 400 bytes were read; whole groups of 100 go until 250 or under.
        #expect(ring.bytes == 200 && ring.count == 20)
        #expect(ring.cut(from: 0, to: 4)?.packets.first?.pts == 20)
        // A source that starts its times again (a wrapped clock): nothing mixed, wait for a keyframe.
        for p in Self.packets(5..<8, gop: 10) { ring.append(p) }
        #expect(ring.count == 0)
        for p in Self.packets(10..<12, gop: 10) { ring.append(p) }
        #expect(ring.count == 2)
        // A session without codec parameters keeps nothing.
        ring.begin(nil)
        for p in Self.packets(0..<5, gop: 1) { ring.append(p) }
        #expect(ring.count == 0)
    }

    @Test(
        "Presentation times standing in for missing decode times (B-frames) do not clear the ring; the clock only moves on"
    )
    func ringWithoutDecodeTimes() throws {
        var ring = PacketRing(window: 100, maxBytes: 1 << 20)
        ring.begin(try Self.parameters(), offset: 0)
        // I P B B P B B ... as a demuxer without decode times gives them: pts only.
        let order: [Int64] = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
        for (i, pts) in order.enumerated() {
            ring.append(EncodedPacket(data: [1], pts: pts, dts: nil, isKeyframe: i == 0))
        }
        #expect(ring.count == 10)
        #expect(ring.hasRead(past: 0.85) && !ring.hasRead(past: 0.9))
    }

    /// Waits until `store` wrote `count` clips (or 30 s).
    static func written(_ store: EventClips, _ count: Int) async throws -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while store.figures.written < count, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        return store.figures.written >= count
    }

    @Test(
        "A clip waiting when the times start again is cut from what was held; one asked after a reopen for an event before it comes from the previous session"
    )
    func recorderAcrossRestarts() async throws {
        let dir = TestAssets.temporaryDirectory("clip-recorder")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try EventClips(folder: dir.path)
        let parameters = try Self.parameters()
        let recorder = ClipRecorder(settings: ClipSettings(preSeconds: 1, postSeconds: 5), store: store)
        recorder.begin(parameters, offset: 0)
        for p in Self.packets(0..<30, gop: 10) { recorder.append(p) }
        // An event at 2.5 s waits for 7.5 s, which never comes: the source starts its times again.
        recorder.request(ids: ["r-1"], at: 2.5)
        #expect(store.clip("r-1", container: .mov) == .recording)
        for p in Self.packets(0..<5, gop: 10) { recorder.append(p) }
        #expect(try await Self.written(store, 1))
        #expect(store.clip("r-1", container: .mov) != .recording)

        // A second session (a loop: times go on from 100 s); an event counted late, at 0.2 s, is
        // cut from the first.
        recorder.begin(parameters, offset: 100)
        for p in Self.packets(0..<20, gop: 10) { recorder.append(p) }
        recorder.request(ids: ["r-2"], at: 0.2)
        #expect(try await Self.written(store, 2))
        guard case .ready(let data, .mov) = store.clip("r-2", container: .mov) else {
            Issue.record("no clip of r-2: \(store.figures)")
            return
        }
        #expect(!data.isEmpty && store.figures.skipped == 0)
    }

    enum Source: String, CaseIterable, CustomTestStringConvertible {
        case h264InMP4 = "mp4"
        case h264InTS = "ts"
        case msmpeg4InAVI = "avi"
        var testDescription: String { rawValue }
    }

    /// The source for `kind`: vtest.avi itself, or 20 s of it encoded to H.264 with B-frames and a
    /// keyframe each second at 25 frames/s (as a camera would).
    static func video(_ kind: Source, in dir: URL) throws -> String {
        guard kind != .msmpeg4InAVI else { return TestAssets.video }
        let path = dir.appendingPathComponent("source.\(kind.rawValue)").path
        let made = try runProcess(
            URL(fileURLWithPath: "/usr/bin/ffmpeg"),
            [
                "-v", "error", "-y", "-i", TestAssets.video, "-t", "20", "-r", "25", "-c:v", "libx264", "-preset",
                "veryfast", "-bf", "2", "-g", "25", path,
            ], timeout: 120)
        try #require(made.status == 0, "ffmpeg could not make the H.264 source: \(made.stderr)")
        return path
    }

    @Test(
        "A clip shows from the frame pre_s before the event, its picture the source's, to post_s after; FFmpeg plays it",
        arguments: Source.allCases)
    func clipOfRealVideo(kind: Source) async throws {
        let dir = TestAssets.temporaryDirectory("clips")
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try Self.video(kind, in: dir)
        let store = try EventClips(folder: dir.appendingPathComponent("clips").path)
        let (pre, post) = (3.0, 2.0)
        let recorder = ClipRecorder(settings: ClipSettings(preSeconds: pre, postSeconds: post), store: store)
        let decoder = try VideoDecoder(input: source)
        recorder.begin(decoder.parameters, offset: 0)
        decoder.onPacket = { recorder.append($0) }
        // The event is on the first frame at or past 12.2 s (the AVI's first keyframe before it is at 0 s).
        // Each picture's hash (the pictures themselves would be hundreds of megabytes).
        var frames: [(pts: Double, picture: Int)] = []
        var event: Double?
        while let frame = try decoder.nextFrame(), frame.pts <= 16 {
            frames.append((frame.pts, frame.pixels.hashValue))
            if event == nil && frame.pts >= 12.2 {
                event = frame.pts
                recorder.request(ids: ["clip-\(kind.rawValue)-1", "clip-\(kind.rawValue)-2"], at: frame.pts)
            }
        }
        let at = try #require(event)
        recorder.finish()
        let id = "clip-\(kind.rawValue)-1"
        let container: ClipContainer = kind == .msmpeg4InAVI ? .mov : .mp4
        var found = store.clip(id, container: container)
        let deadline = Date().addingTimeInterval(30)
        while found == .recording && Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
            found = store.clip(id, container: container)
        }
        guard case .ready(let data, let kept) = found else {
            Issue.record("no clip: \(found), \(store.figures)")
            return
        }
        #expect(kept == container && !data.isEmpty && store.figures.written == 1)
        // One file for the frame's two events, in the container its codec fits.
        #expect(store.clip("clip-\(kind.rawValue)-2", container: container) == found)
        let other: ClipContainer = container == .mp4 ? .mov : .mp4
        #expect(store.clip(id, container: other) == .elsewhere(container))

        let clip = dir.appendingPathComponent("clips/\(id).\(container.rawValue)").path
        let shown = try VideoDecoder(input: clip)
        var clipFrames: [(pts: Double, picture: Int)] = []
        while let frame = try shown.nextFrame() { clipFrames.append((frame.pts, frame.pixels.hashValue)) }
        let first = try #require(clipFrames.first)
        // The frame shown first is the source's latest at or before event - pre_s, shown at 0.
        let expected = try #require(frames.last { $0.pts <= at - pre + 1e-6 })
        #expect(abs(expected.pts - (at - pre)) < 1 / 9.0)
        #expect(abs(first.pts) < 1e-6)
        #expect(first.picture == expected.picture, "the clip's first picture is not the source's at \(expected.pts) s")
        // It runs to post_s after the event (within a frame), every frame the source had in between.
        let wanted = frames.filter { $0.pts >= expected.pts - 1e-6 && $0.pts <= at + post + 1e-6 }
        #expect(
            clipFrames.count >= wanted.count && clipFrames.count <= wanted.count + 3,
            "\(clipFrames.count) frames shown, \(wanted.count) wanted; last at \(clipFrames.last?.pts ?? -1), event at \(at)"
        )
        let differing = zip(clipFrames, wanted).filter { $0.picture != $1.picture }.map(\.1.pts)
        #expect(differing.isEmpty, "pictures that differ from the source's, at \(differing)")
        // FFmpeg itself plays it through without a complaint.
        let played = try runProcess(
            URL(fileURLWithPath: "/usr/bin/ffmpeg"), ["-v", "error", "-i", clip, "-f", "null", "-"], timeout: 60)
        #expect(played.status == 0 && played.stderr.isEmpty, "ffmpeg: \(played.stderr)")
    }
}
