import Core
import Foundation
import HTTPTypes
import Hummingbird
import ModelRegistry
import Synchronization

/// `PUT .../models/{name}/versions/{version}`: a version's files as a tar archive (`tar -C DIR -cf -
/// .`), into a repository, on a node (its own repository, where the fleet sends the versions it
/// rolls out) and on the fleet (the versions it rolls out). Read as it arrives, a chunk at a time,
/// never held whole: written into a dot-folder, checked as any version of the repository, then put
/// in place at once (`VersionUpload`). One upload at a time (a second is 503 with Retry-After); 201 when
/// added, 200 when the same files were there, 400 naming what is wrong with the archive or the
/// version, 409 when the number is taken by other files, 413 over the bounds, 507 on a full disk.
/// Whatever is refused leaves nothing behind. The whole archive must arrive within the server's
/// `body_timeout_s` (60 s by default: raise it for large models over slow links).
final class VersionUploads: Sendable {
    /// The repository's root; nil: none is configured (409).
    let root: String?
    /// Whether the server asks a token (uploads are refused, 403, where it does not).
    let guarded: Bool
    /// Why every upload is refused (409), when one is: a node that swaps to new versions on its
    /// own would serve an upload at once, before any rollout judged it.
    let refusal: String?
    /// The largest file, and the most bytes in all.
    let maxFileBytes: Int
    let maxTotalBytes: Int
    private let busy = Mutex(false)

    init(
        root: String?, guarded: Bool, refusal: String? = nil, maxFileBytes: Int = 2 << 30,
        maxTotalBytes: Int = 4 << 30
    ) {
        self.root = root
        self.guarded = guarded
        self.refusal = refusal
        self.maxFileBytes = maxFileBytes
        self.maxTotalBytes = maxTotalBytes
    }

    /// What an upload came to: the response, and what was added (nil when nothing was).
    struct Received: Sendable {
        var response: Response
        var added: (name: String, version: Int)?
    }

    /// Receives `request`'s body as version `version` of `name`.
    func receive(_ request: Request, name: String, version text: String) async -> Received {
        func refused(_ status: HTTPResponse.Status, _ message: String) -> Received {
            Received(response: ControlPlane.error(status, message), added: nil)
        }
        guard guarded else { return refused(.forbidden, "uploads need a token: set server.token_file") }
        guard let root else { return refused(.conflict, "no models.repository is configured to upload into") }
        if let refusal { return refused(.conflict, refusal) }
        guard let version = Int(text), (0...999_999_999).contains(version), text.allSatisfy(\.isASCII) else {
            return refused(.badRequest, "version: must be a number within 0...999999999")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxTotalBytes + (1 << 20) {
            return refused(.contentTooLarge, "an archive over \(maxTotalBytes) bytes")
        }
        let taken = busy.withLock { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard taken else {
            // Not now: ask again (the fleet does).
            var busy = ControlPlane.error(.serviceUnavailable, "an upload is under way: send this one when it is done")
            busy.headers[.retryAfter] = "5"
            return Received(response: busy, added: nil)
        }
        defer { busy.withLock { $0 = false } }
        let upload: VersionUpload
        do {
            let repository = try ModelRepository(root: root)
            upload = try await BlockingExecutor.shared.run { () throws(RepositoryError) in
                try VersionUpload(repository: repository, name: name, version: version)
            }
        } catch {
            return Received(response: ControlPlane.error(error), added: nil)
        }
        var reader = VersionArchiveReader(maxFileBytes: maxFileBytes, maxTotalBytes: maxTotalBytes)
        do {
            for try await chunk in request.body {
                let events = try reader.feed(chunk.readableBytesView)
                guard !events.isEmpty else { continue }
                try await BlockingExecutor.shared.run { () throws(RepositoryError) in try upload.apply(events) }
            }
            let last = try reader.finish()
            let outcome = try await BlockingExecutor.shared.run { () throws(RepositoryError) in
                try upload.apply([last])
                return try upload.commit()
            }
            let body: [String: String] = ["model": name, "version": String(version), "state": outcome.rawValue]
            return outcome == .added
                ? Received(response: ControlPlane.json(body, status: .created), added: (name, version))
                : Received(response: ControlPlane.json(body), added: nil)
        } catch {
            await BlockingExecutor.shared.run { upload.discard() }
            if let archive = error as? ArchiveError {
                return refused(
                    archive.tooLarge ? .contentTooLarge : .badRequest, "\(name) version \(version): \(archive)")
            }
            if ErrorCode.of(error) == .failed, !(error is RepositoryError) {
                // The client went, or its body failed to arrive.
                return refused(.badRequest, "\(name) version \(version): the archive did not arrive whole: \(error)")
            }
            return Received(response: ControlPlane.error(error), added: nil)
        }
    }
}
