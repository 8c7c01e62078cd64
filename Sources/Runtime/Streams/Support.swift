import Batching
import Foundation
import InferenceBackend
import Logging
import ModelRegistry
import Monitoring
import Synchronization
import VideoIO
import Vision

/// Errors that ended sources early, by stream.
final class SourceErrors: Sendable {
    private let errors = Mutex<[Int: VideoError]>([:])

    func record(_ stream: Int, _ error: VideoError) { errors.withLock { $0[stream] = error } }

    var all: [Int: VideoError] { errors.withLock { $0 } }
}

/// The first error any stage hit; the run stops and rethrows it.
final class FirstFailure: Sendable {
    private let first = Mutex<(any Error)?>(nil)

    func record(_ error: any Error) { first.withLock { $0 = $0 ?? error } }

    var error: (any Error)? { first.withLock { $0 } }
}

/// Writes `value` as pretty JSON with sorted keys.
package func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    do {
        try encoder.encode(value).write(to: URL(fileURLWithPath: path))
    } catch {
        throw OutputError(path: path, message: "cannot write: \(error.localizedDescription)")
    }
}
