import ArgumentParser
import Foundation
import ModelRegistry
import Pipeline
import Vision

extension Batchline {
    /// `batchline models`: the versions of a repository model, and swaps in a running `batchline run`.
    struct Models: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a model's versions; activate one, or roll back, in a running `batchline run`.",
            subcommands: [List.self, Status.self, Activate.self, Rollback.self]
        )

        /// Where the command goes: the model folder, and the socket of the run serving it.
        struct Target: ParsableArguments {
            @Argument(help: "The repository model folder the run serves (REPO/<name>).")
            var model: String

            @Option(name: .long, help: "The run's control socket (default: the one derived from the model folder).")
            var control: String?

            var socket: String { control ?? ModelRepository.controlSocketPath(modelFolder: model) }

            /// Sends `command`; prints the reply's JSON and fails on `"ok":false` with its error.
            func send(_ command: String) throws {
                do {
                    let reply = try ControlClient.send(command, to: socket)
                    let object = try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any]
                    guard let object, object["ok"] as? Bool == true else {
                        throw PipelineError("\(model): \(object?["error"] as? String ?? reply)")
                    }
                    print(reply)
                } catch {
                    throw fail(error)
                }
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "The complete versions in the repository.")
            @Argument(help: "A repository model folder (REPO/<name>).")
            var model: String

            func run() throws {
                do {
                    guard let (repository, name) = try ModelRepository.modelFolder(model) else {
                        throw RepositoryError(path: model, message: "not a repository model folder (REPO/<name>)")
                    }
                    for version in try repository.versions(of: name) {
                        let v = try repository.version(name, version)
                        print("\(version)\t\(v.spec.tag)\t\(v.modelFile)")
                    }
                } catch {
                    throw fail(error)
                }
            }
        }

        struct Status: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "The version serving, and the swaps so far.")
            @OptionGroup var target: Target
            func run() throws { try target.send("status") }
        }

        struct Activate: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Load, check and warm up a version, then swap it in at the next batch.",
                discussion: "Answers once the stream has switched, or with the reason the version was refused.")
            @OptionGroup var target: Target
            @Argument(help: "The version number.")
            var version: Int
            func run() throws { try target.send("activate \(version)") }
        }

        struct Rollback: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Go back to the version served before.")
            @OptionGroup var target: Target
            func run() throws { try target.send("rollback") }
        }
    }
}
