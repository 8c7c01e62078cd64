import ArgumentParser
import Foundation
import ModelRegistry
import Pipeline
import Vision

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

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

            @Option(
                name: .long,
                help:
                    "A running `batchline serve` (http://HOST:PORT): talk to it over HTTP; MODEL is then the model's name."
            )
            var server: String?

            @Option(
                name: .long, help: "With --server: the file holding the bearer token (the config's server.token_file).")
            var tokenFile: String?

            var socket: String { control ?? ModelRepository.controlSocketPath(modelFolder: model) }

            /// Sends `command`; prints the reply's JSON and fails on `"ok":false` with its error.
            func send(_ command: String) throws {
                if let server {
                    try sendHTTP(command, to: server)
                    return
                }
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

            /// The same over the service's HTTP control plane: `status` is `GET /api/v1/models` (this
            /// model's entry), `activate N` and `rollback` its POST routes.
            func sendHTTP(_ command: String, to server: String) throws {
                let name = (model as NSString).lastPathComponent
                let parts = command.split(separator: " ")
                var path = "/api/v1/models"
                var method = "GET"
                var body: Data?
                switch parts.first {
                case "activate":
                    (path, method) = ("/api/v1/models/\(name)/activate", "POST")
                    body = Data("{\"version\": \(parts.count > 1 ? String(parts[1]) : "0")}".utf8)
                case "rollback": (path, method) = ("/api/v1/models/\(name)/rollback", "POST")
                default: break
                }
                guard let url = URL(string: server.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)
                else {
                    throw fail(PipelineError("--server \(server): not a URL"))
                }
                var request = URLRequest(url: url)
                request.httpMethod = method
                request.httpBody = body
                request.timeoutInterval = 120
                if let tokenFile {
                    guard let token = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                        throw fail(PipelineError("\(tokenFile): cannot read the token file"))
                    }
                    request.setValue(
                        "Bearer \(token.trimmingCharacters(in: .whitespacesAndNewlines))",
                        forHTTPHeaderField: "Authorization")
                }
                let done = DispatchSemaphore(value: 0)
                nonisolated(unsafe) var outcome: (Data?, Int, (any Error)?) = (nil, 0, nil)
                URLSession.shared.dataTask(with: request) { data, response, error in
                    outcome = (data, (response as? HTTPURLResponse)?.statusCode ?? 0, error)
                    done.signal()
                }.resume()
                done.wait()
                if let error = outcome.2 { throw fail(PipelineError("\(server): \(error.localizedDescription)")) }
                let text = String(decoding: outcome.0 ?? Data(), as: UTF8.self)
                guard outcome.1 == 200 else {
                    let object = try? JSONSerialization.jsonObject(with: outcome.0 ?? Data()) as? [String: Any]
                    throw fail(PipelineError("\(name): \(object?["error"] as? String ?? "HTTP \(outcome.1)")"))
                }
                if method == "GET",
                    let list = try? JSONSerialization.jsonObject(with: outcome.0 ?? Data()) as? [[String: Any]]
                {
                    guard let entry = list.first(where: { $0["name"] as? String == name }),
                        let data = try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
                    else { throw fail(PipelineError("\(name): the service does not serve it")) }
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print(text)
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
