import Foundation

/// Where an `auto` camera goes: the up node with the most headroom that can take it. A value; no I/O.
public enum Placement {
    /// A node as placement sees it.
    public struct Candidate: Sendable, Equatable {
        public var name: String
        /// Detector frames a second it can still take for the camera's model: its pipeline's
        /// measured headroom, less what cameras placed on it but not yet running there will need;
        /// nil while not measured.
        public var headroom: Double?
        /// Cameras on it (running or placed).
        public var cameras: Int

        public init(name: String, headroom: Double?, cameras: Int) {
            self.name = name
            self.headroom = headroom
            self.cameras = cameras
        }
    }

    /// Why a camera was not placed.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case noNodeUp
        /// Needs `needed` detector frames a second; the roomiest up node has `best`.
        case noRoom(needed: Double, best: String, headroom: Double)
        /// The nodes up serve cameras whose costs are not measured yet: ask again in a few seconds.
        case notMeasured

        public var description: String {
            switch self {
            case .noNodeUp: return "no node is up"
            case .noRoom(let needed, let best, let headroom):
                return String(
                    format: "no node can take it: it needs %.1f detector frames/s; the most headroom is %@'s, %.1f",
                    needed, best, headroom)
            case .notMeasured: return "the nodes up have not measured what they can take yet"
            }
        }
    }

    /// The node for a camera needing `need` detector frames a second among `candidates` (up nodes):
    /// the most headroom that covers the need; an empty node whose capacity is not measured yet
    /// counts as the roomiest (nothing runs there), fewer cameras first among equals.
    public static func choose(need: Double, among candidates: [Candidate]) -> Result<String, Refusal> {
        guard !candidates.isEmpty else { return .failure(.noNodeUp) }
        func room(_ c: Candidate) -> Double? {
            if let h = c.headroom { return h }
            return c.cameras == 0 ? .infinity : nil
        }
        let fitting = candidates.filter { (room($0) ?? -1) >= need }
        if let best = fitting.min(by: { a, b in
            let (ra, rb) = (room(a)!, room(b)!)
            if ra != rb { return ra > rb }
            if a.cameras != b.cameras { return a.cameras < b.cameras }
            return a.name < b.name
        }) {
            return .success(best.name)
        }
        let measured = candidates.compactMap { c in c.headroom.map { (c.name, $0) } }
        guard let roomiest = measured.max(by: { $0.1 < $1.1 }) else { return .failure(.notMeasured) }
        return .failure(.noRoom(needed: need, best: roomiest.0, headroom: roomiest.1))
    }
}
