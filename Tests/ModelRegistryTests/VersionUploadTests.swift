import Foundation
import TestSupport
import Testing
import Vision

@testable import ModelRegistry

/// A version sent as a tar archive into a repository: archives written by GNU tar, by Python's
/// tarfile and by our own writer, fed in chunks of every size; hostile archives refused with the
/// entry named and nothing left behind.
@Suite("Model versions uploaded as archives")
struct VersionUploadTests {
    /// The real detector's version folder, its model renamed `people`.
    func versionFolder() throws -> URL {
        let dir = TestAssets.temporaryDirectory("version")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: TestAssets.detectorFile, toPath: dir.appendingPathComponent("frozen_inference_graph.pb").path)
        try FileManager.default.copyItem(
            atPath: TestAssets.detector + "/model.json", toPath: dir.appendingPathComponent("model.json").path)
        return dir
    }

    func run(_ argv: [String], in dir: URL? = nil) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        if let dir { p.currentDirectoryURL = dir }
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(argv.joined(separator: " "))")
        return data
    }

    /// Feeds `archive` in chunks of `chunk` bytes into an upload of `version`; the outcome or the error.
    func upload(_ archive: Data, into root: URL, version: Int, chunk: Int = 65_536, maxFile: Int = 64 << 20)
        throws -> VersionUpload.Outcome
    {
        let repository = try ModelRepository(root: root.path)
        let upload = try VersionUpload(repository: repository, name: "people", version: version)
        var reader = VersionArchiveReader(maxFileBytes: maxFile, maxTotalBytes: 128 << 20)
        do {
            var offset = 0
            let bytes = [UInt8](archive)
            while offset < bytes.count {
                let end = min(bytes.count, offset + chunk)
                try upload.apply(try reader.feed(bytes[offset..<end]))
                offset = end
            }
            try upload.apply([try reader.finish()])
            return try upload.commit()
        } catch {
            upload.discard()
            throw error
        }
    }

    /// The detector's version folder (`versionFolder`) and an empty repository.
    func folders() throws -> (source: URL, root: URL) {
        (try versionFolder(), TestAssets.temporaryDirectory("repo"))
    }

    /// Nothing but the versions committed: no staging folder left behind, in the repository or the model.
    func leftovers(_ root: URL) -> [String] {
        let model = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("people").path))
        return ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0.hasPrefix(".") }
            + (model ?? []).filter { $0.hasPrefix(".") }
    }

    @Test("GNU tar's, Python's and our own archives of the real detector become a version, fed in any chunks")
    func realArchives() throws {
        let (source, root) = try folders()
        defer { [source, root].forEach { try? FileManager.default.removeItem(at: $0) } }
        let gnu = try TestAssets.tarArchive(of: source.path)
        let python = try run([
            "python3", "-c",
            "import sys,tarfile;t=tarfile.open(fileobj=sys.stdout.buffer,mode='w|',format=tarfile.PAX_FORMAT);"
                + "[t.add(sys.argv[1]+'/'+n,arcname=n) for n in ('model.json','frozen_inference_graph.pb')];t.close()",
            source.path,
        ])
        var ours = Data()
        for name in ["frozen_inference_graph.pb", "model.json"] {
            let bytes = try Data(contentsOf: source.appendingPathComponent(name))
            ours +=
                VersionArchiveWriter.header(name: name, size: bytes.count) + bytes
                + VersionArchiveWriter.padding(after: bytes.count)
        }
        ours += VersionArchiveWriter.end
        for (version, archive, chunk) in [(1, gnu, 65_536), (2, python, 1), (3, ours, 511), (4, gnu, 7_919)] {
            // One byte at a time is slow on 12 MB: the sidecar alone then.
            let input = chunk == 1 ? Data(try tarOfSidecar(source)) : archive
            #expect(try upload(input, into: root, version: version, chunk: chunk) == .added)
            let v = try ModelRepository(root: root.path).version("people", version)
            #expect(v.spec.file == "frozen_inference_graph.pb")
            if chunk != 1 {
                #expect(
                    FileManager.default.contentsEqual(
                        atPath: v.modelFile, andPath: source.appendingPathComponent("frozen_inference_graph.pb").path))
            }
        }
        // Python's own PAX archive of the whole version, read as it comes.
        #expect(try upload(python, into: root, version: 5) == .added)
        #expect(try ModelRepository(root: root.path).versions(of: "people") == [1, 2, 3, 4, 5])
        // The same files again: present; other files under a number taken: refused, version kept.
        #expect(try upload(gnu, into: root, version: 1) == .present)
        #expect(throws: RepositoryError.self) { try upload(try tarOfSidecar(source), into: root, version: 1) }
        #expect(try ModelRepository(root: root.path).version("people", 1).modelFile.hasSuffix(".pb"))
        #expect(leftovers(root).isEmpty)
    }

    /// A Python tarfile archive (PAX) of the sidecar and a one-byte model file.
    func tarOfSidecar(_ source: URL) throws -> Data {
        try run([
            "python3", "-c",
            "import io,sys,tarfile;t=tarfile.open(fileobj=sys.stdout.buffer,mode='w|',format=tarfile.PAX_FORMAT);"
                + "t.add(sys.argv[1]+'/model.json',arcname='./model.json');"
                + "i=tarfile.TarInfo('frozen_inference_graph.pb');i.size=1;t.addfile(i,io.BytesIO(b'x'));t.close()",
            source.path,
        ])
    }

    @Test("Hostile archives are refused with the entry named; nothing is left in the repository")
    func hostile() throws {
        let (source, root) = try folders()
        defer { [source, root].forEach { try? FileManager.default.removeItem(at: $0) } }
        let sidecar = try Data(contentsOf: source.appendingPathComponent("model.json"))
        func python(_ body: String) throws -> Data {
            try run([
                "python3", "-c",
                "import io,sys,tarfile;t=tarfile.open(fileobj=sys.stdout.buffer,mode='w|',format=tarfile.PAX_FORMAT);"
                    + "f=lambda n,b:(lambda i:(setattr(i,'size',len(b)),t.addfile(i,io.BytesIO(b))))(tarfile.TarInfo(n));"
                    + body + ";t.close()",
            ])
        }
        let cases: [(String, Data, String)] = [
            (
                "a symbolic link",
                try python(
                    "i=tarfile.TarInfo('model.json');i.type=tarfile.SYMTYPE;i.linkname='/etc/passwd';t.addfile(i)"),
                "symbolic link"
            ),
            ("a path out", try python("f('../escape.json',b'{}')"), "not a plain file name"),
            ("a folder", try python("f('sub/model.json',b'{}')"), "not a plain file name"),
            (
                "a hard link",
                try python("i=tarfile.TarInfo('x');i.type=tarfile.LNKTYPE;i.linkname='model.json';t.addfile(i)"),
                "hard link"
            ),
            ("a file twice", try python("f('a',b'1');f('a',b'2')"), "twice"),
            ("too large", try python("f('big',b'0'*5000)"), "is over"),
            ("no sidecar", try python("f('frozen_inference_graph.pb',b'x')"), "model.json"),
            ("a sidecar naming a missing file", try python("f('model.json',\(pythonBytes(sidecar)))"), "missing"),
            ("a short extended record", Self.shortPaxRecord(), "malformed"),
            ("not an archive", Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }), "checksum"),
        ]
        for (what, archive, expected) in cases {
            do {
                _ = try upload(archive, into: root, version: 1, maxFile: 4096)
                Issue.record("\(what): accepted")
            } catch {
                #expect("\(error)".contains(expected), "\(what): \(error)")
            }
            #expect(leftovers(root).isEmpty, "\(what)")
            // Not even the model's folder: a refused upload leaves no trace.
            #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("people").path), "\(what)")
        }
        // Cut short, inside a file and between entries.
        let gnu = try run(["tar", "-C", source.path, "-cf", "-", "model.json"])
        for cut in [700, 512 + 1024] where cut < gnu.count {
            #expect(throws: ArchiveError.self) { _ = try upload(gnu.prefix(cut), into: root, version: 1) }
            #expect(leftovers(root).isEmpty)
        }
        // A bad name or version never makes a folder.
        #expect(throws: RepositoryError.self) {
            try VersionUpload(repository: try ModelRepository(root: root.path), name: "../x", version: 1)
        }
    }

    /// A pax extended header (type `x`) whose one record is `2 ` (its length counts only itself):
    /// a record too short to hold `key=value` and its newline.
    static func shortPaxRecord() -> Data {
        var header = VersionArchiveWriter.header(name: "PaxHeader", size: 2)
        header[156] = UInt8(ascii: "x")
        for i in 148..<156 { header[i] = 0x20 }
        let sum = header.reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        for i in 148..<154 { header[i] = UInt8(ascii: "0") }
        for (k, d) in digits.reversed().enumerated() { header[153 - k] = d }
        header[154] = 0
        return Data(header + Array("2 ".utf8) + VersionArchiveWriter.padding(after: 2) + VersionArchiveWriter.end)
    }

    /// `bytes` as a Python bytes literal.
    func pythonBytes(_ bytes: Data) -> String {
        "bytes([" + bytes.map(String.init).joined(separator: ",") + "])"
    }
}
