import Core
import Foundation
import Monitoring
import VideoIO

/// Encodes annotated frames on its own thread, so that H.264 encoding (~5 ms a frame here) does not
/// hold up post-processing. Frames wait in a bounded queue (8): when encoding falls behind, the
/// output stage waits for it, and no frame of the annotated video is dropped.
///
/// `@unchecked Sendable`: the encoder and the timings belong to the worker thread until `finish()`
/// has joined it; the queue and the failure record are thread-safe.
final class EncoderWorker: @unchecked Sendable {
    private let queue = BoundedQueue<[UInt8]>(capacity: 8)
    private let done = DispatchSemaphore(value: 0)
    private let failure = FirstFailure()
    private let encoder: VideoEncoder
    private var timings = StageStats()
    private var joined = false

    init(encoder: VideoEncoder) {
        self.encoder = encoder
        let thread = Thread { [self] in
            defer { done.signal() }
            while let pixels = queue.pop() {
                guard failure.error == nil else { continue }  // drain, so that the producer never blocks
                let t0 = Clock.now
                do {
                    try self.encoder.write(rgb: pixels)
                } catch {
                    failure.record(error)
                }
                timings.add(Clock.now - t0)
            }
        }
        thread.name = "batchline-encode"
        thread.start()
    }

    /// Queues one RGB24 frame; throws the first encoding error, if one happened.
    func write(_ pixels: [UInt8]) throws {
        if let error = failure.error { throw error }
        queue.push(pixels)
    }

    /// Encodes what is queued, writes the trailer, and returns the encoding times.
    func finish() throws -> StageStats {
        join()
        if let error = failure.error { throw error }
        try encoder.finish()
        return timings
    }

    /// Stops the thread without finishing the file (the run failed).
    func cancel() { join() }

    private func join() {
        guard !joined else { return }
        joined = true
        queue.close()
        done.wait()
    }
}
