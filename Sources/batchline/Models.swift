import ArgumentParser
import Foundation
import ModelRegistry
import Runtime
import Server
import Tools
import Vision

extension Batchline {
    /// `batchline models`: the versions of a repository model, and swaps in a running `batchline run`.
    struct Models: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "List a model's versions; activate one, or roll back, in a running `batchline run`; make an INT8 version.",
            subcommands: [List.self, Status.self, Activate.self, Rollback.self, Shadow.self, Quantize.self]
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

            /// The model's name on the server, or in the run.
            var name: String { URL(fileURLWithPath: model).lastPathComponent }

            /// Sends `command` (`status`, `activate N`, `rollback`) over HTTP, to the server or the
            /// run's socket alike; prints the reply's JSON, or fails with its error.
            func send(_ command: Command) async throws {
                let client: ControlClient
                if let server {
                    var token: String?
                    if let tokenFile {
                        guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                            throw fail(PipelineError("\(tokenFile): cannot read the token file"))
                        }
                        token = text.trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                    guard URL(string: server)?.scheme != nil else {
                        throw fail(PipelineError("--server \(server): not a URL"))
                    }
                    client = ControlClient(server: server, token: token)
                } else {
                    client = ControlClient(socket: socket)
                }
                let reply: ControlClient.Reply
                do {
                    switch command {
                    case .status: reply = try await client.send(.GET, "/api/v1/models")
                    case .activate(let version):
                        let body = try JSONEncoder().encode(["version": version])
                        reply = try await client.send(.POST, "/api/v1/models/\(name)/activate", body: body)
                    case .rollback: reply = try await client.send(.POST, "/api/v1/models/\(name)/rollback")
                    }
                } catch {
                    throw fail(server == nil ? PipelineError("\(model): \(error)") : error)
                }
                guard reply.status == 200 else { throw fail(PipelineError("\(name): \(reply.errorMessage)")) }
                guard case .status = command else {
                    print(String(decoding: reply.body, as: UTF8.self))
                    return
                }
                // This model's entry of the list.
                let entries = (try? JSONDecoder().decode([ModelEntry].self, from: reply.body)) ?? []
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                guard let entry = entries.first(where: { $0.name == name }), let json = try? encoder.encode(entry)
                else {
                    throw fail(PipelineError("\(name): the \(server == nil ? "run" : "service") does not serve it"))
                }
                print(String(decoding: json, as: UTF8.self))
            }
        }

        /// `batchline models shadow NAME VERSION --server URL`: a version judged beside the serving one
        /// on the node's own frames; progress on standard error, the figures (JSON) on standard
        /// output; exit 0 when the run compared its frames, 1 when it failed.
        struct Shadow: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Judge a version beside the serving one on a node's own live frames (F1 and mean IoU).")
            @OptionGroup var target: Target
            @Argument(help: "The version to judge.")
            var version: Int
            @Option(name: .long, help: "Frames to compare (1...1000).")
            var frames = 50
            @Option(name: .customLong("every-ms"), help: "Milliseconds between sampled frames: the CPU it may take.")
            var everyMs = 500

            func run() async throws {
                guard let server = target.server else {
                    throw fail(ValidationError("shadow runs on a node: give --server http://HOST:PORT"))
                }
                var token: String?
                if let file = target.tokenFile {
                    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                        throw fail(PipelineError("\(file): cannot read the token file"))
                    }
                    token = text.trimmingCharacters(in: .whitespacesAndNewlines)
                }
                let client = ControlClient(server: server, token: token)
                let path = "/api/v1/models/\(target.name)/shadow"
                let body = try JSONEncoder().encode(["version": version, "frames": frames, "every_ms": everyMs])
                var reply = try await client.send(.POST, path, body: body)
                guard reply.status == 202 else { throw fail(PipelineError("\(target.name): \(reply.errorMessage)")) }
                while true {
                    let figures = (try? JSONSerialization.jsonObject(with: reply.body)) as? [String: Any] ?? [:]
                    let state = figures["state"] as? String ?? "?"
                    if ["done", "failed", "stopped"].contains(state) {
                        print(String(decoding: reply.body, as: UTF8.self))
                        if state != "done" { throw ExitCode(1) }
                        return
                    }
                    let line = "shadow: \(state), \(figures["frames"] as? Int ?? 0) of \(frames) frames\n"
                    FileHandle.standardError.write(Data(line.utf8))
                    try await Task.sleep(for: .seconds(1))
                    reply = try await client.send(.GET, path)
                    guard reply.status == 200 else {
                        throw fail(PipelineError("\(target.name): \(reply.errorMessage)"))
                    }
                }
            }
        }

        /// What `send` asks for.
        enum Command {
            case status
            case activate(Int)
            case rollback
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
                    for v in try repository.checkedVersions(of: name) {
                        print("\(v.version)\t\(v.spec.tag)\t\(v.spec.precision ?? "as trained")\t\(v.modelFile)")
                        if let d = v.spec.derived { print("\tfrom version \(d.from): \(d.gate.summary)") }
                    }
                    // Candidates the accuracy gate refused: kept aside, never served.
                    for (n, spec) in repository.refused(of: name) {
                        guard let d = spec.derived else { continue }
                        print(
                            ".\(n).refused\trefused\t\(spec.precision ?? "?")\tfrom version \(d.from): \(d.gate.summary)"
                        )
                    }
                } catch {
                    throw fail(error)
                }
            }
        }

        struct Quantize: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Make an INT8 (or FP16) version of a repository model, gated by accuracy.",
                discussion: """
                    Calibrates on frames of VIDEO_OR_URL decoded and pre-processed as the serving pipeline \
                    does (NNCF post-training quantization, the project's venv), then runs the new version \
                    beside the one it came from on frames held back from calibration: detections F1 (IoU \
                    >= 0.7) or, for a classifier, top-1 agreement, and the speed of each. A version that \
                    reaches --gate becomes REPO/<name>/N, which a running pipeline's watcher swaps in; one \
                    that does not is kept as REPO/<name>/.N.refused with its figures, never served (exit 1).
                    """)
            @Argument(help: "A repository model folder (REPO/<name>).")
            var model: String
            @Option(name: .long, help: "The version to start from (default: the latest).")
            var from: Int?
            @Option(name: .long, help: "A video file or URL whose frames calibrate.")
            var calibration: String
            @Option(name: .long, help: "Frames sampled over the source: two thirds calibrate, one third is held back.")
            var frames = 300
            @Option(name: .long, help: "Hold back frames from this source instead (the gate's frames).")
            var checkOn: String?
            @Option(name: .long, help: "int8, or fp16 (weights only).")
            var precision = "int8"
            @Option(name: .long, help: "NNCF preset: mixed (asymmetric activations) or performance.")
            var preset = "mixed"
            @Option(name: .long, help: "A pattern of node names to keep in float (repeatable).")
            var ignore: [String] = []
            @Flag(name: .long, help: "Keep the prediction heads (per-anchor boxes and scores) in float.")
            var keepHeads = false
            @Option(name: .long, help: "The least F1 or top-1 agreement the new version must reach.")
            var gate = 0.97
            @Option(
                name: .long,
                help: "The Python with nncf and openvino (default: $BATCHLINE_PYTHON, .deps/venv/bin/python).")
            var python: String?
            @Option(name: .long, help: "The OpenVINO device the gate runs on.")
            var device = "CPU"

            func validate() throws {
                guard (1...100_000).contains(frames) else {
                    throw ValidationError("--frames \(frames): use 1...100000")
                }
                guard (0...1).contains(gate) else { throw ValidationError("--gate \(gate): use 0...1") }
            }

            func run() throws {
                let environment = ProcessInfo.processInfo.environment
                let python =
                    python ?? environment["BATCHLINE_PYTHON"]
                    ?? (FileManager.default.isExecutableFile(atPath: ".deps/venv/bin/python")
                        ? ".deps/venv/bin/python" : "/usr/bin/python3")
                var options = Quantizer.Options(model: model, calibration: calibration, python: python)
                options.from = from
                options.frames = frames
                options.checkOn = checkOn
                options.precision = precision
                options.preset = preset
                options.ignore = ignore
                options.keepHeads = keepHeads
                options.threshold = gate
                options.device = device
                let outcome: Quantizer.Outcome
                do {
                    outcome = try Quantizer.run(options) { line in
                        FileHandle.standardError.write(Data("batchline models quantize: \(line)\n".utf8))
                    }
                } catch {
                    throw fail(error)
                }
                let d = outcome.derivation
                if outcome.passed {
                    print(
                        "version \(outcome.version) (\(precision), from \(d.from)): \(d.gate.summary): \(outcome.directory)"
                    )
                } else {
                    FileHandle.standardError.write(
                        Data(
                            "batchline: error: version \(outcome.version) (\(precision), from \(d.from)) refused: \(d.gate.summary); kept, never served, in \(outcome.directory)\n"
                                .utf8))
                    throw ExitCode(1)
                }
            }
        }

        struct Status: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "The version serving, and the swaps so far.")
            @OptionGroup var target: Target
            func run() async throws { try await target.send(.status) }
        }

        struct Activate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Load, check and warm up a version, then swap it in at the next batch.",
                discussion: "Answers once the stream has switched, or with the reason the version was refused.")
            @OptionGroup var target: Target
            @Argument(help: "The version number.")
            var version: Int
            func run() async throws { try await target.send(.activate(version)) }
        }

        struct Rollback: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Go back to the version served before.")
            @OptionGroup var target: Target
            func run() async throws { try await target.send(.rollback) }
        }
    }
}
