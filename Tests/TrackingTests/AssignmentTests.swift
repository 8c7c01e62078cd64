import Testing

@testable import Tracking

/// Solves a gain matrix given as rows; returns each row's column or nil.
func assign(_ gains: [[Double]]) -> [Int?] {
    var solver = LinearAssignment()
    return solve(&solver, gains)
}

/// Solves a gain matrix given as rows with `solver`: each of its entries is a pair.
func solve(_ solver: inout LinearAssignment, _ gains: [[Double]]) -> [Int?] {
    let columns = gains.first?.count ?? 0
    let pairs = gains.indices.flatMap { r in
        columns == 0 ? [] : (0..<columns).map { Pair(row: r, column: $0, gain: gains[r][$0]) }
    }
    solver.solve(rows: gains.count, columns: columns, pairs: pairs)
    return solver.match.map { $0 >= 0 ? $0 : nil }
}

/// The best total gain over every matching, by trying them all (small matrices only).
func bruteForceBest(_ gains: [[Double]]) -> Double {
    let columns = gains.first?.count ?? 0
    func best(_ row: Int, _ taken: Set<Int>) -> Double {
        guard row < gains.count else { return 0 }
        var b = best(row + 1, taken)  // row unmatched
        for c in 0..<columns where !taken.contains(c) && gains[row][c] > 0 {
            b = max(b, gains[row][c] + best(row + 1, taken.union([c])))
        }
        return b
    }
    return best(0, [])
}

/// The total gain of a matching.
func total(_ gains: [[Double]], _ match: [Int?]) -> Double {
    match.enumerated().reduce(0) { sum, rc in rc.element.map { sum + gains[rc.offset][$0] } ?? sum }
}

@Suite("Linear assignment")
struct AssignmentTests {
    @Test("A square matrix gets its known optimum, not the greedy one")
    func square() {
        // The textbook cost matrix [[4, 1, 3], [2, 0, 5], [3, 2, 2]] as gains 10 - cost: the optimum is
        // 9 + 8 + 8 = 25 and unique; greedy takes the 10 first and ends with 24.
        let gains: [[Double]] = [
            [6, 9, 7],
            [8, 10, 5],
            [7, 8, 8],
        ]
        #expect(assign(gains) == [1, 0, 2])
    }

    @Test("One very good pair does not take the box two others needed")
    func notGreedy() {
        // IoU above the threshold: track A overlaps both detections, B only the first.
        let gains: [[Double]] = [
            [0.7, 0.6],
            [0.6, 0],
        ]
        #expect(assign(gains) == [1, 0])
    }

    @Test("Pairs that are not positive are never matched")
    func forbidden() {
        #expect(assign([[0, 0], [0, 0]]) == [nil, nil])
        #expect(assign([[0, 0.5], [0, 0.4]]) == [1, nil])
        #expect(assign([[-1, 0.2]]) == [1])
        #expect(assign([]) == [])
        #expect(assign([[], []]) == [nil, nil])
    }

    @Test("More rows than columns, and more columns than rows")
    func rectangular() {
        #expect(assign([[0.1], [0.9], [0.5]]) == [nil, 0, nil])
        #expect(assign([[0.1, 0.9, 0.5]]) == [1])
        #expect(assign([[0.5, 0.4, 0], [0.45, 0, 0]]) == [1, 0])
    }

    @Test("Random sparse matrices: the total equals the best over every matching")
    func random() {
        var rng = SeededGenerator(seed: 7)
        var solver = LinearAssignment()  // one solver: its reused buffers must not leak between calls
        for _ in 0..<300 {
            let rows = Int.random(in: 0...6, using: &rng)
            let columns = Int.random(in: 0...6, using: &rng)
            let gains = (0..<rows).map { _ in
                (0..<columns).map { _ in
                    Double.random(in: 0...1, using: &rng) < 0.5 ? 0 : Double.random(in: 0...1, using: &rng)
                }
            }
            let match = solve(&solver, gains)
            let used = match.compactMap { $0 }
            #expect(Set(used).count == used.count)
            #expect(match.enumerated().allSatisfy { r, c in c.map { gains[r][$0] > 0 } ?? true })
            #expect(abs(total(gains, match) - bruteForceBest(gains)) < 1e-9)
        }
    }
}
