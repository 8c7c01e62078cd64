import Foundation
import InferenceBackend
import InferenceEngine
import ModelRegistry

#if canImport(Glibc)
    import Glibc
#endif

// What `serve` checks as it starts, beyond the file itself, and `--check-config` checks the same
// way: the events folder is written to, the device is asked for, every model is loaded. Blocking:
// run these off the cooperative pool (`BlockingExecutor`).

extension ServiceConfig {
    /// What `checkStart` did, for `--check-config` to say (and what it did not).
    public struct StartCheck: Sendable {
        /// Every problem, one line each.
        public var problems: [ConfigError] = []
        /// What was checked, in words.
        public var checked: [String] = []
    }

    /// Checks what `serve` needs before it starts anything: the events folder can be made and
    /// written to (a file made and removed there; folders made for it are removed again unless
    /// `keepFolders`), and the device is one OpenVINO has here.
    public func environmentProblems(keepFolders: Bool) -> [ConfigError] {
        var problems: [ConfigError] = []
        if let problem = Self.eventsFolderProblem(eventsFolder, keepFolders: keepFolders) {
            problems.append(ConfigError(file: file, key: "output.events", problem))
        }
        if let problem = Self.deviceProblem(device) {
            problems.append(ConfigError(file: file, key: "device", problem))
        }
        return problems
    }

    /// `environmentProblems`, then every model of `streams` loaded as `serve` loads it (resolved to
    /// its version, read, checked against its sidecar, compiled once for the device at the smallest
    /// batch size) and freed.
    public func checkStart(streams: [StreamSpec]) -> StartCheck {
        var result = StartCheck(problems: environmentProblems(keepFolders: false))
        result.checked.append("events folder \(eventsFolder) written to")
        guard result.problems.isEmpty else { return result }
        result.checked.append("device \(device) available")
        let models = Set(streams.map(\.modelPath)).sorted()
        let batch = sizes.min() ?? 1
        for model in models {
            do {
                try Self.load(model: model, device: device, batch: batch)
            } catch {
                // Worded as `serve` words it (`EdgeService.mapped`): the model, then the error.
                result.problems.append(ConfigError(file: file, key: modelKeys[model] ?? "models", "\(model): \(error)"))
            }
        }
        result.checked.append(
            "\(models.count) models loaded and compiled on \(device) at batch size \(batch) "
                + "(the other batch sizes compile at start)")
        return result
    }

    /// Loads `model` as a pipeline does (a repository model folder at its latest version, anything
    /// else as it is) and compiles it for `batch`; throws what loading throws.
    static func load(model: String, device: String, batch: Int) throws {
        let loader = try OpenVINOLoader()
        let engine: any InferenceEngine
        if let (repository, name) = try ModelRepository.modelFolder(model) {
            let chosen = try repository.resolve(name)
            engine = try loader.load(
                path: chosen.directory, name: name, version: String(chosen.version), device: device, hint: .latency)
        } else {
            engine = try loader.load(path: model, name: nil, version: nil, device: device, hint: .latency)
        }
        _ = try engine.slots(batch: batch, count: 1)
    }

    /// Why the events folder cannot be used, or nil: each missing folder is made (`mkdir`), then a
    /// file is made and removed in it.
    static func eventsFolderProblem(_ path: String, keepFolders: Bool) -> String? {
        guard !path.isEmpty else { return "must name a folder" }
        var missing: [String] = []
        var url = URL(fileURLWithPath: path).standardizedFileURL
        while !FileManager.default.fileExists(atPath: url.path), url.path != "/" {
            missing.insert(url.path, at: 0)
            url.deleteLastPathComponent()
        }
        var made: [String] = []
        defer {
            if !keepFolders { for folder in made.reversed() { rmdir(folder) } }
        }
        for folder in missing {
            guard mkdir(folder, 0o755) == 0 else { return "cannot make the folder \(folder): \(errnoText())" }
            made.append(folder)
        }
        guard isDirectory(path) else { return "\(path) is not a folder" }
        let probe = path + "/.batchline-write-check-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { return "cannot write in \(path): \(errnoText())" }
        let wrote = write(fd, "x", 1) == 1
        let reason = wrote ? nil : errnoText()
        close(fd)
        unlink(probe)
        return reason.map { "cannot write in \(path): \($0)" }
    }

    /// Why OpenVINO cannot run on `device` here, or nil: a device it lists (`GPU` when it has
    /// `GPU.0`), or `AUTO`, `MULTI:`, `HETERO:`, `BATCH:` over devices it lists.
    static func deviceProblem(_ device: String) -> String? {
        guard (1...64).contains(device.utf8.count), device.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 })
        else { return "'\(device.prefix(64))' is not a device name" }
        let available: [String]
        do {
            available = try InferenceCore().availableDevices()
        } catch {
            return "cannot list OpenVINO's devices: \(error)"
        }
        let virtual = ["AUTO", "MULTI", "HETERO", "BATCH"]
        var names = [device]
        if let colon = device.firstIndex(of: ":") {
            guard virtual.contains(String(device[..<colon])) else {
                return "unknown device '\(device)' (OpenVINO has: \(available.joined(separator: ", ")))"
            }
            names = device[device.index(after: colon)...].split(separator: ",").map(String.init)
        } else if virtual.contains(device) {
            return nil
        }
        for name in names where !available.contains(where: { $0 == name || $0.hasPrefix(name + ".") }) {
            return "unknown device '\(name)' (OpenVINO has: \(available.joined(separator: ", ")))"
        }
        return nil
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
