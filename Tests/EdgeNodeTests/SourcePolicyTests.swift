import Core
import EdgeNode
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a source may be, on real files: regular files under allowed folders, the protocols a camera
/// needs; everything else refused with one line naming the key; credentials never shown.
@Suite("Source policy")
struct SourcePolicyTests {
    /// A config in `dir` with one stream reading `source` (YAML-quoted), checked.
    static func problems(source: String, in dir: URL, sources: String = "") -> [ConfigError] {
        let yaml = """
            models: { repository: \(TestAssets.root.appendingPathComponent("models").path) }
            \(sources)
            streams:
              - { id: cam, source: "\(source)", model: pedestrian-ssdlite }
            """
        let file = dir.appendingPathComponent("serve.yaml").path
        return ServiceConfig.check(yaml: yaml, file: file).1
    }

    @Test(
        "A FIFO, a device, a folder and a socket are refused as sources; a regular file in the config's folder is not")
    func specialFiles() throws {
        let dir = TestAssets.temporaryDirectory("sources")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("camera.fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let socketPath = dir.appendingPathComponent("s.sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in socketPath.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        let video = dir.appendingPathComponent("copy.avi")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: TestAssets.video), to: video)

        let cases = [
            (fifo, "FIFO"), (socketPath, "socket"), (dir.path, "folder"), ("/dev/zero", "not under an allowed folder"),
        ]
        for (source, words) in cases {
            let found = Self.problems(source: source, in: dir)
            #expect(found.count == 1, "\(source): \(found)")
            #expect(found.first?.key == "streams[0].source", "\(found)")
            #expect(found.first?.message.contains(words) == true, "\(found)")
        }
        // A device under an allowed folder is refused for what it is.
        let device = Self.problems(source: "/dev/zero", in: dir, sources: "sources: { allow_folders: [/dev] }")
        #expect(device.first?.message.contains("device") == true, "\(device)")
        #expect(Self.problems(source: video.path, in: dir).isEmpty)
        #expect(Self.problems(source: "file://" + video.path, in: dir).isEmpty)
    }

    @Test(
        "Protocols a camera does not need are refused (file:///etc/shadow, concat:, subfile:, tcp://); allow_protocols widens the list"
    )
    func protocols() {
        let dir = TestAssets.temporaryDirectory("sources")
        defer { try? FileManager.default.removeItem(at: dir) }
        let refused = [
            ("file:///etc/shadow", "not under an allowed folder"), ("concat:a.avi|b.avi", "protocol 'concat'"),
            ("subfile,,start,0,end,0,,:/etc/passwd", "subfile"), ("tcp://127.0.0.1:22", "protocol 'tcp'"),
            ("gopher://127.0.0.1/", "protocol 'gopher'"), ("data:video/avi;base64,AAAA", "protocol 'data'"),
        ]
        for (source, words) in refused {
            let found = Self.problems(source: source, in: dir)
            #expect(found.count == 1, "\(source): \(found)")
            #expect(found.first?.key == "streams[0].source")
            #expect(found.first?.message.contains(words) == true, "\(source): \(found)")
        }
        for source in [
            "rtsp://10.0.0.2:8554/cam", "rtsps://cam.local/x", "http://10.0.0.3/x.mjpg", "https://h/x.m3u8",
            "udp://239.0.0.1:1234", "rtp://239.0.0.1:5004", "srt://10.0.0.4:9000",
        ] {
            #expect(Self.problems(source: source, in: dir).isEmpty, "\(source)")
        }
        let widened = Self.problems(
            source: "tcp://127.0.0.1:22", in: dir, sources: "sources: { allow_protocols: [tcp] }")
        #expect(widened.isEmpty, "\(widened)")
        let file = Self.problems(source: "x.avi", in: dir, sources: "sources: { allow_protocols: [file] }")
        #expect(file.first?.key == "sources.allow_protocols", "\(file)")
        // FFmpeg is held to the scheme's own protocols.
        #expect(SourcePolicy.ffmpegProtocols(for: "/a/b.avi") == "file")
        #expect(SourcePolicy.ffmpegProtocols(for: "rtsp://h/x").split(separator: ",").contains("file") == false)
        #expect(SourcePolicy.ffmpegProtocols(for: "https://h/x.m3u8").split(separator: ",").contains("concat") == false)
    }

    @Test("A control character in a source or a model is refused (a newline would forge a log line)")
    func controlCharacters() {
        let dir = TestAssets.temporaryDirectory("sources")
        defer { try? FileManager.default.removeItem(at: dir) }
        let found = Self.problems(source: "rtsp://h/x\\nlevel=error forged", in: dir)
        #expect(found.first?.key == "streams[0].source")
        #expect(found.first?.message.contains("control character") == true, "\(found)")
        let body = #"{"id":"a","source":"rtsp://h/x\r\nforged","model":"pedestrian-ssdlite"}"#
        #expect(throws: ConfigError.self) { try StreamSpec.fromJSON(body, repository: nil) }
    }

    @Test("Credentials are hidden: user and password, and query parameters named like secrets")
    func redaction() {
        #expect(SourcePolicy.redacted("rtsp://admin:hunter2@10.0.0.2:554/live") == "rtsp://***@10.0.0.2:554/live")
        #expect(
            SourcePolicy.redacted("https://cam/x.m3u8?token=abc&w=640&api_key=k#f")
                == "https://cam/x.m3u8?token=***&w=640&api_key=***#f")
        #expect(SourcePolicy.redacted("rtsp://h/p@th") == "rtsp://h/p@th")
        #expect(SourcePolicy.redacted(TestAssets.video) == TestAssets.video)
    }
}
