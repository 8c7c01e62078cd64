import Runtime
import Testing

@testable import Runtime

@Suite("Stream state machine")
struct StreamStateTests {
    @Test("A camera that drops is reconnected with a growing, capped, jittered back-off, and counted")
    func cameraDrops() {
        var m = StreamStateMachine(settings: .init(live: true), time: 0)
        #expect(m.phase == .connecting)
        #expect(m.handle(.opened, at: 0) == .none && m.phase == .running)
        _ = m.handle(.frame, at: 1)
        #expect(m.handle(.ended, at: 5, random: 0.5) == .reopen(after: 0.5))
        #expect(m.phase == .reconnecting && m.lastError == "the source ended")
        #expect(m.handle(.failed("connection refused"), at: 6, random: 0.5) == .reopen(after: 1))
        #expect(m.handle(.failed("connection refused"), at: 7, random: 0.5) == .reopen(after: 2))
        #expect(m.reconnects == 0 && m.attempts == 3)
        // Back online: counted once, attempts start again with the next frame.
        #expect(m.handle(.opened, at: 9) == .none && m.phase == .running && m.reconnects == 1)
        _ = m.handle(.frame, at: 9.1)
        #expect(m.attempts == 0)
        #expect(m.lastError == "connection refused", "kept for the operator after recovery")
        // The back-off is capped, and jitter spreads it.
        let b = Backoff()
        #expect(b.delay(attempt: 30, random: 0.5) == 30)
        #expect(b.delay(attempt: 0, random: 0) == 0.4 && b.delay(attempt: 0, random: 0.999) > 0.59)
    }

    @Test("A service never gives up on a camera; run gives up after its time-out, with the reason")
    func givingUp() {
        var forever = StreamStateMachine(settings: .init(live: true), time: 0)
        _ = forever.handle(.opened, at: 0)
        for k in 0..<1000 {
            if case .finish = forever.handle(.failed("timeout"), at: Double(k) * 30) { Issue.record("gave up") }
        }
        #expect(forever.phase == .reconnecting)

        var run = StreamStateMachine(settings: .init(live: true, giveUpAfter: 10), time: 0)
        _ = run.handle(.opened, at: 0)
        _ = run.handle(.frame, at: 2)
        #expect(run.handle(.failed("read error"), at: 4, random: 0.5) == .reopen(after: 0.5))
        // Waits are cut so that the last attempt comes at the limit, not after it.
        guard case .reopen(let wait) = run.handle(.failed("refused"), at: 11.9, random: 0.5) else {
            Issue.record("gave up early")
            return
        }
        #expect(abs(wait - 0.1) < 1e-9)
        #expect(run.handle(.failed("refused"), at: 12, random: 0.5) == .finish)
        #expect(run.phase == .failed)
        #expect(run.lastError == "no frames for 10 s (2 reconnect attempts): refused", "\(run.lastError ?? "")")
    }

    @Test("A full queue is back-pressure, not silence: the time a frame waits to be taken is not counted")
    func backPressure() {
        var camera = StreamStateMachine(settings: .init(live: true, giveUpAfter: 10), time: 0)
        _ = camera.handle(.opened, at: 0)
        _ = camera.handle(.frame, at: 1)
        // The pipeline took the frame only 20 s later (its queue was full); the camera then fails once.
        _ = camera.handle(.delivered, at: 21)
        #expect(camera.handle(.failed("read error"), at: 22, random: 0.5) == .reopen(after: 0.5))
        #expect(camera.phase == .reconnecting)
        // Without the delivery it would have been given up at once.
        var blind = StreamStateMachine(settings: .init(live: true, giveUpAfter: 10), time: 0)
        _ = blind.handle(.opened, at: 0)
        _ = blind.handle(.frame, at: 1)
        #expect(blind.handle(.failed("read error"), at: 22, random: 0.5) == .finish)
    }

    @Test("A file ends, loops, or fails at once; a stopped stream stays stopped")
    func files() {
        var file = StreamStateMachine(settings: .init(live: false), time: 0)
        _ = file.handle(.opened, at: 0)
        #expect(file.handle(.ended, at: 3) == .finish && file.phase == .ended)
        #expect(file.handle(.opened, at: 4) == .finish && file.phase == .ended, "terminal")

        var loop = StreamStateMachine(settings: .init(live: false, loop: true), time: 0)
        _ = loop.handle(.opened, at: 0)
        #expect(loop.handle(.ended, at: 3) == .reopen(after: 0) && loop.phase == .running)
        // Out of file descriptors at the loop point: retried like a camera, never failed for good.
        #expect(loop.handle(.reopenFailed("Too many open files"), at: 3, random: 0.5) == .reopen(after: 0.5))
        #expect(loop.phase == .reconnecting && loop.lastError == "Too many open files")
        #expect(loop.handle(.reopenFailed("Too many open files"), at: 4, random: 0.5) == .reopen(after: 1))
        #expect(loop.handle(.opened, at: 5) == .none && loop.phase == .running && loop.reconnects == 1)
        // A file that is not looped and cannot be opened again fails.
        var once = StreamStateMachine(settings: .init(live: false), time: 0)
        #expect(once.handle(.reopenFailed("gone"), at: 0) == .finish && once.phase == .failed)

        var missing = StreamStateMachine(settings: .init(live: false, loop: true), time: 0)
        #expect(missing.handle(.failed("no such file"), at: 0) == .finish)
        #expect(missing.phase == .failed && missing.lastError == "no such file")

        var stopped = StreamStateMachine(settings: .init(live: true), time: 0)
        _ = stopped.handle(.opened, at: 0)
        #expect(stopped.handle(.stop, at: 1) == .finish && stopped.phase == .ended)
        #expect(stopped.handle(.failed("x"), at: 2) == .finish && stopped.phase == .ended)
    }
}
