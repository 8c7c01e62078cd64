import Foundation

/// Named threads for blocking work (compiling a model, encoding a snapshot, a model swap's load):
/// a `TaskExecutor`, so that an async caller awaits the work while it runs here, never on Swift's
/// cooperative pool. `run` is the way in.
///
/// The job queue is not bounded by itself: its callers are (the HTTP server's connections, at most
/// 8 models, one swap per model at a time), and each job is one call.
///
/// `@unchecked Sendable`: the job list is guarded by `condition`.
public final class BlockingExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0

    /// The executor shared by the process: `threads` threads named `batchline-blocking-N`.
    public static let shared = BlockingExecutor(name: "batchline-blocking", threads: 4)

    /// Starts `threads` threads named `name-N` that run the jobs enqueued, in order.
    public init(name: String, threads: Int) {
        for n in 0..<max(1, threads) {
            let thread = Thread { [self] in self.work() }
            thread.name = "\(name)-\(n)"
            thread.start()
        }
    }

    /// Enqueues `job` for the next free thread.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head > 64 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    /// Runs blocking `body` on one of the executor's threads and returns (or throws) what it does;
    /// the caller is suspended meanwhile.
    public func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withTaskExecutorPreference(self) {
            do throws(E) {
                return .success(try body())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
