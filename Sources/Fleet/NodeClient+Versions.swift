import AsyncHTTPClient
import Core
import Foundation
import ModelRegistry
import NIOCore
import NIOHTTP1

// The versions a node serves: sent to its own repository, and loaded at the version assigned.
extension NodeClient {
    /// Seconds an upload may take in all (a model of a few hundred megabytes over a slow link).
    static let uploadTimeout: TimeAmount = .seconds(600)

    /// Sends `version` (a checked version of the fleet's repository) into the node's repository
    /// (`PUT /api/v1/models/{name}/versions/{v}`, a tar archive read from disk as it goes); nil when
    /// it holds it now, else why not. A node busy with another upload (503) is asked again, five
    /// times at most, five seconds apart.
    func upload(_ version: ModelVersion) async -> String? {
        for _ in 0..<5 {
            let (busy, refusal) = await uploadOnce(version)
            guard busy else { return refusal }
            try? await Task.sleep(for: .seconds(5))
        }
        return "the node was busy with other uploads for 25 s"
    }

    private func uploadOnce(_ version: ModelVersion) async -> (busy: Bool, refusal: String?) {
        let archive: VersionArchiveChunks
        do {
            // The folder listed and its files' sizes read off the cooperative pool.
            archive = try await BlockingExecutor.shared.run { try VersionArchiveChunks(folder: version.directory) }
        } catch {
            return (false, "\(version.directory): \(error)")
        }
        do {
            let (status, reply) = try await send(
                .PUT, "/api/v1/models/\(version.name)/versions/\(version.version)",
                body: .stream(archive, length: .known(Int64(archive.length))), contentType: "application/x-tar",
                timeout: Self.uploadTimeout)
            return (status == 503, status == 200 || status == 201 ? nil : Self.message(reply) ?? "HTTP \(status)")
        } catch {
            return (false, "\(error)")
        }
    }

    /// What loading a version came to.
    enum Loaded: Sendable, Equatable {
        case loaded
        /// The node's repository has no such version (404): send it.
        case missing
        case failed(String)
    }

    /// Loads `model` at `version` where it is not served yet (`POST /v2/repository/models/{name}/load`).
    /// Allowed `startTimeout` (a model is compiled).
    func load(_ model: String, version: Int) async -> Loaded {
        let body = try? JSONSerialization.data(withJSONObject: ["parameters": ["version": version]])
        do {
            let (status, reply) = try await send(
                .POST, "/v2/repository/models/\(model)/load", body: body, timeout: Self.startTimeout)
            switch status {
            case 200: return .loaded
            case 404: return .missing
            default: return .failed(Self.message(reply) ?? "HTTP \(status)")
            }
        } catch {
            return .failed("\(error)")
        }
    }
}

/// A version folder's plain files as the tar archive `VersionArchiveReader` reads, produced a
/// chunk at a time as the upload takes it (each read on the blocking executor): never all of it in
/// memory.
struct VersionArchiveChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    /// What is sent, in order: bytes made here, or a stretch of a file.
    enum Piece: Sendable {
        case bytes([UInt8])
        case file(path: String, size: Int)
    }

    let pieces: [Piece]
    /// Bytes in all.
    let length: Int
    static let chunk = 1 << 20

    /// The plain files of `folder` (no dot-files, no folders; a link as what it leads to), in name order.
    init(folder: String) throws {
        var pieces: [Piece] = []
        var length = 0
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
        for name in names {
            // A link inside the repository (which it checked) is sent as the file it leads to.
            let path = URL(fileURLWithPath: folder + "/" + name).resolvingSymlinksInPath().path
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            guard attributes[.type] as? FileAttributeType == .typeRegular,
                let size = attributes[.size] as? Int
            else { continue }
            guard VersionArchiveReader.isPlainName(name) else {
                throw ArchiveError("\(name.prefix(100)): not a name an archive of a version may hold")
            }
            pieces.append(.bytes(VersionArchiveWriter.header(name: name, size: size)))
            pieces.append(.file(path: path, size: size))
            pieces.append(.bytes(VersionArchiveWriter.padding(after: size)))
            length += 512 + size + VersionArchiveReader.padding(size)
        }
        pieces.append(.bytes(VersionArchiveWriter.end))
        self.pieces = pieces
        self.length = length + VersionArchiveWriter.end.count
    }

    func makeAsyncIterator() -> Iterator { Iterator(pieces: pieces) }

    struct Iterator: AsyncIteratorProtocol {
        let pieces: [Piece]
        var index = 0
        /// Bytes of the present file already sent.
        var offset = 0

        mutating func next() async throws -> ByteBuffer? {
            while index < pieces.count {
                switch pieces[index] {
                case .bytes(let bytes):
                    index += 1
                    if bytes.isEmpty { continue }
                    return ByteBuffer(bytes: bytes)
                case .file(let path, let size):
                    guard offset < size else {
                        index += 1
                        offset = 0
                        continue
                    }
                    let (from, count) = (offset, Swift.min(VersionArchiveChunks.chunk, size - offset))
                    let data = try await BlockingExecutor.shared.run { () throws -> Data in
                        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
                        defer { try? handle.close() }
                        try handle.seek(toOffset: UInt64(from))
                        return try handle.read(upToCount: count) ?? Data()
                    }
                    // A file that shrank meanwhile: the archive would lie about its size.
                    guard data.count == count else { throw ArchiveError("\(path) changed while it was sent") }
                    offset += count
                    return ByteBuffer(bytes: data)
                }
            }
            return nil
        }
    }
}
