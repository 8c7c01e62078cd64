import Foundation

/// Stage costs of a device, per batch: a measured table, interpolated between its sizes.
public struct DeviceProfile: Sendable, Codable, Equatable {
    /// A name for reports.
    public var name: String
    /// Batch sizes measured.
    public var sizes: [Int]
    /// Seconds per batch, pre-processing (on the CPU).
    public var preprocess: [Double]
    /// Seconds per batch, inference.
    public var inference: [Double]
    /// Seconds per batch, post-processing.
    public var postprocess: [Double]
    /// Frames per second each size delivered where the profile was measured (`batchline profile`);
    /// informative, the simulation runs on the stage costs.
    public var delivered: [Double]?

    /// Creates a profile from a table.
    public init(
        name: String, sizes: [Int], preprocess: [Double], inference: [Double], postprocess: [Double],
        delivered: [Double]? = nil
    ) {
        self.name = name
        self.sizes = sizes
        self.preprocess = preprocess
        self.inference = inference
        self.postprocess = postprocess
        self.delivered = delivered
    }

    /// The paper's Table 1: Jetson Xavier, seconds per batch.
    public static let xavier = DeviceProfile(
        name: "Jetson Xavier (paper, Table 1)", sizes: [1, 2, 4, 8, 16],
        preprocess: [0.004, 0.007, 0.013, 0.026, 0.051], inference: [0.021, 0.031, 0.058, 0.107, 0.211],
        postprocess: [0.003, 0.004, 0.008, 0.014, 0.027])

    /// The paper's Table 2: RTX 2080 Ti, seconds per batch.
    public static let rtx2080ti = DeviceProfile(
        name: "RTX 2080 Ti (paper, Table 2)", sizes: [1, 2, 4, 8, 16],
        preprocess: [0.003, 0.006, 0.013, 0.027, 0.053], inference: [0.003, 0.005, 0.01, 0.017, 0.035],
        postprocess: [0.001, 0.002, 0.003, 0.006, 0.009])

    /// Seconds per batch of `batch` for `stage` (decoding costs nothing here): the table, linear
    /// between its sizes, and along the last segment beyond them.
    public func seconds(_ stage: Stage, batch: Int) -> Double {
        let ys: [Double]
        switch stage {
        case .decode: return 0
        case .preprocess: ys = preprocess
        case .infer: ys = inference
        case .postprocess: ys = postprocess
        }
        let x = Double(batch)
        if let i = sizes.firstIndex(of: batch) { return ys[i] }
        var lo = 0
        while lo + 2 < sizes.count && Double(sizes[lo + 1]) < x { lo += 1 }
        let x0 = Double(sizes[lo])
        let x1 = Double(sizes[lo + 1])
        return max(1e-6, ys[lo] + (ys[lo + 1] - ys[lo]) * (x - x0) / (x1 - x0))
    }

    /// Reads `xavier`, `2080ti`, or a JSON file with this type's fields.
    public static func named(_ name: String) throws -> DeviceProfile {
        switch name.lowercased() {
        case "xavier": return .xavier
        case "2080ti", "rtx2080ti": return .rtx2080ti
        default:
            guard let data = FileManager.default.contents(atPath: name) else {
                throw SimulationError("\(name): no such device profile (use xavier, 2080ti or a JSON file)")
            }
            do {
                let p = try JSONDecoder().decode(DeviceProfile.self, from: data)
                guard p.sizes.count >= 2, p.preprocess.count == p.sizes.count, p.inference.count == p.sizes.count,
                    p.postprocess.count == p.sizes.count
                else {
                    throw SimulationError("\(name): sizes and every stage need the same number (2 or more) of values")
                }
                guard p.sizes.first! >= 1, zip(p.sizes, p.sizes.dropFirst()).allSatisfy({ $0 < $1 }) else {
                    throw SimulationError("\(name): sizes must be 1 or more and ascending")
                }
                guard (p.preprocess + p.inference + p.postprocess).allSatisfy({ $0.isFinite && $0 >= 0 }),
                    p.inference.allSatisfy({ $0 > 0 })
                else {
                    throw SimulationError("\(name): stage seconds must be finite and not negative (inference above 0)")
                }
                return p
            } catch let e as SimulationError {
                throw e
            } catch {
                throw SimulationError("\(name): not a device profile (\(error))")
            }
        }
    }
}

/// A simulation that cannot run.
public struct SimulationError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem.
    public enum Code: String, Sendable {
        /// A device profile or setup that cannot be simulated.
        case invalidSetup
    }

    /// The kind (one so far).
    public var code: Code { .invalidSetup }
    /// What is wrong.
    public let description: String
    public init(_ d: String) { description = d }
}
