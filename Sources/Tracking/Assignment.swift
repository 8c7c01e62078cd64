/// A pair a row (track) and a column (detection) may be matched as, and what matching them is worth.
struct Pair: Sendable, Equatable {
    /// The row.
    var row: Int
    /// The column.
    var column: Int
    /// What matching them is worth; a pair that is not positive is never matched.
    var gain: Double
}

/// Optimal matching of rows (tracks) with columns (detections): the matching with the largest total
/// gain, using only the pairs given with a positive gain, each row and column at most once.
///
/// The tracker's gain for a pair is its IoU above the stage's threshold, so the result is what
/// ByteTrack gets from Jonker–Volgenant with a cost limit: a pair is matched only where that beats
/// leaving both unmatched. Unlike a greedy "best IoU first", one very good pair does not take a box
/// that two others needed (a test shows the case).
///
/// A pair alone in its row and its column is matched at once (most of a scene: objects apart from
/// each other). The rows and columns left, those that compete, go to the Hungarian algorithm with
/// potentials (shortest augmenting paths, O(n²·m) for n ≤ m) on a dense matrix in which a pair not
/// given costs 0, the same as leaving it unmatched, so that paths end early where little competes.
/// The buffers are kept between calls: once grown to the scene, a frame allocates nothing.
struct LinearAssignment: Sendable {
    /// After `solve`, the column matched with each row, or -1.
    private(set) var match: [Int] = []

    // Scratch, kept between calls for its capacity.
    private var rowDegree: [Int] = []
    private var columnDegree: [Int] = []
    private var rowSlot: [Int] = []
    private var columnSlot: [Int] = []
    private var keptRows: [Int] = []
    private var keptColumns: [Int] = []
    private var cost: [Double] = []
    private var hungarian = Hungarian()

    /// Creates a solver with empty buffers.
    init() {}

    /// Matches `rows` rows with `columns` columns through `pairs` (at most one per row and column;
    /// rows and columns within range). Read `match`.
    mutating func solve(rows: Int, columns: Int, pairs: [Pair]) {
        func fill<T>(_ a: inout [T], _ value: T, _ count: Int) {
            a.removeAll(keepingCapacity: true)
            a.append(contentsOf: repeatElement(value, count: count))
        }
        fill(&match, -1, rows)
        fill(&rowDegree, 0, rows)
        fill(&columnDegree, 0, columns)
        for p in pairs where p.gain > 0 {
            rowDegree[p.row] += 1
            columnDegree[p.column] += 1
        }
        fill(&rowSlot, -1, rows)
        fill(&columnSlot, -1, columns)
        keptRows.removeAll(keepingCapacity: true)
        keptColumns.removeAll(keepingCapacity: true)
        for p in pairs where p.gain > 0 {
            if rowDegree[p.row] == 1 && columnDegree[p.column] == 1 {
                match[p.row] = p.column
                continue
            }
            if rowSlot[p.row] < 0 {
                rowSlot[p.row] = keptRows.count
                keptRows.append(p.row)
            }
            if columnSlot[p.column] < 0 {
                columnSlot[p.column] = keptColumns.count
                keptColumns.append(p.column)
            }
        }
        guard !keptRows.isEmpty else { return }
        // The algorithm wants no more rows than columns: solve the transpose when there are more.
        let transposed = keptRows.count > keptColumns.count
        let n = transposed ? keptColumns.count : keptRows.count
        let m = transposed ? keptRows.count : keptColumns.count
        fill(&cost, 0, n * m)
        for p in pairs where p.gain > 0 && rowSlot[p.row] >= 0 {
            let (r, c) = (rowSlot[p.row], columnSlot[p.column])
            cost[transposed ? c * m + r : r * m + c] = -p.gain
        }
        hungarian.solve(cost: cost, n: n, m: m)
        for (i, j) in hungarian.columnOfRow.enumerated() where j >= 0 && cost[i * m + j] < 0 {
            if transposed { match[keptRows[j]] = keptColumns[i] } else { match[keptRows[i]] = keptColumns[j] }
        }
    }
}

/// The Hungarian algorithm with potentials: the minimum-cost assignment of every one of `n` rows to a
/// distinct one of `m >= n` columns. Its buffers are locals of `solve` while it runs (swapped out of
/// the struct and back), so that the inner loops check no array's uniqueness.
struct Hungarian: Sendable {
    /// After `solve`, the column (from 0) of each row (from 0).
    private(set) var columnOfRow: [Int] = []
    private var buffers = (u: [Double](), v: [Double](), minv: [Double](), p: [Int](), way: [Int](), used: [Bool]())

    /// Solves the n×m row-major `cost`.
    mutating func solve(cost: [Double], n: Int, m: Int) {
        var (u, v, minv, p, way, used) = buffers
        buffers = ([], [], [], [], [], [])
        defer { buffers = (u, v, minv, p, way, used) }
        func fill<T>(_ a: inout [T], _ value: T, _ count: Int) {
            a.removeAll(keepingCapacity: true)
            a.append(contentsOf: repeatElement(value, count: count))
        }
        // Row and column 0 are the sentinel; p[j] is the row (from 1) on column j (from 1), 0 for none.
        fill(&u, 0, n + 1)
        fill(&v, 0, m + 1)
        fill(&p, 0, m + 1)
        fill(&way, 0, m + 1)
        for i in 1...n {
            // Grow a shortest-path tree from row i until it reaches a free column, then flip the path.
            p[0] = i
            var j0 = 0
            fill(&minv, .infinity, m + 1)
            fill(&used, false, m + 1)
            repeat {
                used[j0] = true
                let i0 = p[j0]
                var delta = Double.infinity
                var j1 = 0
                let base = (i0 - 1) * m - 1
                let ui = u[i0]
                for j in 1...m where !used[j] {
                    let reduced = cost[base + j] - ui - v[j]
                    if reduced < minv[j] {
                        minv[j] = reduced
                        way[j] = j0
                    }
                    if minv[j] < delta {
                        delta = minv[j]
                        j1 = j
                    }
                }
                for j in 0...m {
                    if used[j] {
                        u[p[j]] += delta
                        v[j] -= delta
                    } else {
                        minv[j] -= delta
                    }
                }
                j0 = j1
            } while p[j0] != 0
            repeat {
                let j1 = way[j0]
                p[j0] = p[j1]
                j0 = j1
            } while j0 != 0
        }
        fill(&columnOfRow, -1, n)
        for j in 1...m where p[j] != 0 { columnOfRow[p[j] - 1] = j - 1 }
    }
}
