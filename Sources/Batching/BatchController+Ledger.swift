extension BatchController {
    /// What the controller measured and tried, beyond the stage costs: capacities delivered under
    /// overload, sizes found slower, sizes and requests in flight tried. All of it is forgotten in
    /// time (`Config.forget`), and at once when the model or the number of streams changes.
    struct Ledger: Sendable, Equatable {
        /// Frames per second each size delivered while the pipeline was falling behind: its capacity
        /// as measured, at the requests in flight of the time.
        var capacity: [Int: CostModel.Sample] = [:]
        /// When each size's capacity was last measured.
        var capacitySeen: [Int: Double] = [:]
        /// Frames per second finished while overloaded at the current batch size, by requests in flight.
        var requestCapacity: [Int: CostModel.Sample] = [:]
        /// Sizes found slower than another, and when: not tried or chosen again until forgotten.
        var slower: [Int: Double] = [:]
        /// Sizes tried, and when: each is tried once until forgotten.
        var probed: [Int: Double] = [:]
        /// Requests in flight tried at the current batch size.
        var probedRequests: Set<Int> = []

        /// Forgets what was found slower, tried or measured long enough ago, and returns the sizes
        /// whose stage costs go too (what made them slower may have gone, and they may be tried
        /// again); the capacity of the size running now stays.
        mutating func expire(at time: Double, after forget: Double, running batch: Int) -> [Int] {
            var stale: [Int] = []
            for (size, when) in slower where time - when >= forget {
                slower[size] = nil
                probed[size] = nil
                if size != batch { stale.append(size) }
            }
            for (size, when) in probed where time - when >= forget { probed[size] = nil }
            for (size, when) in capacitySeen where size != batch && time - when >= forget {
                capacity[size] = nil
                capacitySeen[size] = nil
            }
            return stale
        }

        /// Records that `batch` with `requests` in flight delivered `rate` frames/s at `time`, falling behind.
        mutating func delivered(_ rate: Double, batch: Int, requests: Int, at time: Double) {
            capacity[batch] = .adding(rate, to: capacity[batch], smoothing: 0.3)
            capacitySeen[batch] = time
            requestCapacity[requests] = .adding(rate, to: requestCapacity[requests], smoothing: 0.3)
        }

        /// The batch size changed: capacity by requests in flight was measured at the old one.
        mutating func batchChanged() {
            requestCapacity = [:]
            probedRequests = []
        }

        /// Notes what a decision leaves to remember.
        mutating func note(_ memo: Memo?, at time: Double) {
            switch memo {
            case .slower(let size)?: slower[size] = time
            case .tried(let size)?: probed[size] = time
            case .triedRequests(let count)?: probedRequests.insert(count)
            case nil: break
            }
        }
    }

    /// What a decision leaves in the ledger.
    enum Memo: Sendable, Equatable {
        /// A size found slower (a trial ended, or left under overload).
        case slower(Int)
        /// A size tried (once until forgotten).
        case tried(Int)
        /// Requests in flight tried at the current size.
        case triedRequests(Int)
    }
}
