import Foundation
import Yams

/// A YAML config file read as untrusted input, before its own type decodes it: a regular file of at
/// most `maxBytes`, UTF-8, valid YAML, and at most `maxNodes` nodes once its aliases are expanded
/// (what stops an alias bomb). Shared by `serve`'s and `fleet`'s configs.
package enum ConfigFile {
    /// The text of `path`, or the one-line problem.
    package static func read(_ path: String, maxBytes: Int) -> Result<String, ConfigError> {
        guard FileManager.default.fileExists(atPath: path) else {
            return .failure(ConfigError(file: path, key: nil, "no such file"))
        }
        if isDirectory(path) { return .failure(ConfigError(file: path, key: nil, "is a folder, not a file")) }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= maxBytes else {
            return .failure(ConfigError(file: path, key: nil, "\(size) bytes: a config is at most \(maxBytes) bytes"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(ConfigError(file: path, key: nil, "cannot read it (permissions?)"))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(ConfigError(file: path, key: nil, "cannot read it as UTF-8 text"))
        }
        return .success(text)
    }

    /// The YAML tree of `yaml` (nil for an empty document), or the one-line problem.
    package static func compose(_ yaml: String, file: String, maxBytes: Int, maxNodes: Int) -> Result<
        Node?, ConfigError
    > {
        guard yaml.utf8.count <= maxBytes else {
            return .failure(ConfigError(file: file, key: nil, "a config is at most \(maxBytes) bytes"))
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            let text = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
            return .failure(ConfigError(file: file, key: nil, "not valid YAML: \(text)"))
        }
        guard let root, root.null == nil else { return .success(nil) }
        guard ServiceConfig.nodeCount(root, limit: maxNodes) <= maxNodes else {
            return .failure(
                ConfigError(file: file, key: nil, "more than \(maxNodes) YAML nodes once its aliases are expanded"))
        }
        return .success(root)
    }
}
