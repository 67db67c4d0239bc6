import Foundation
import VigilCore
import VigilIO

/// `vigil reshard --instances N --output-dir DIR CHECKPOINT...`: the checkpoints of a cluster split anew.
struct ReshardCommand {
    static let flags = [
        Flag(name: "--instances", valueName: "N", required: true),
        Flag(name: "--output-dir", valueName: "DIR", required: true),
    ]
    static let help = """
        USAGE: vigil reshard --instances N --output-dir DIR CHECKPOINT...

        Splits the checkpoints (or models) of a `cluster.mode: hash` deployment for N instances: reads every
        CHECKPOINT (typically each old instance's state.dir/\(CheckpointFile.fileName)), and writes
        DIR/<i>/\(CheckpointFile.fileName) for i = 0..<N holding exactly the devices instance i owns under N
        (the same stable hash `vigil run` uses). Point instance i's state.dir at DIR/<i> (or copy the file there)
        and it starts with its new devices warm. A device found in several inputs keeps the newest file's state.
        Each file is written atomically; the inputs are not changed.

        `vigil run` also leaves out, when it loads a checkpoint, the devices it does not own (logged as
        not_owned), so a file handed to the wrong instance never makes two instances watch one device.

        FLAGS:
          --instances N     Instances of the new split, 1...1024 (cluster.instances).
          --output-dir DIR  Where to write DIR/0 ... DIR/N-1.

        EXIT STATUS: 0 written, 1 an input that cannot be read or an output that cannot be written, 64 bad
        command line.
        """

    var options: Options

    func run() -> Int32 {
        guard let instances = Int(options["--instances"]!), (1...1024).contains(instances) else {
            printError("vigil reshard: --instances must be between 1 and 1024\n\n\(Self.help)")
            return VigilCommand.usageError
        }
        guard !options.positionals.isEmpty else {
            printError("vigil reshard: give at least one CHECKPOINT\n\n\(Self.help)")
            return VigilCommand.usageError
        }
        var inputs: [(path: String, file: CheckpointFile)] = []
        for path in options.positionals {
            do {
                guard let file = try CheckpointFile.load(path: path) else {
                    printError("vigil reshard: \(path): no such file")
                    return 1
                }
                inputs.append((path, file))
            } catch {
                printError("vigil reshard: \(error.description)")
                return 1
            }
        }
        // Newest first, so that the first record seen of a device is the one kept.
        inputs.sort { $0.file.created > $1.file.created }
        var seen = Set<UInt64>()
        var duplicates = 0
        var split = Array(repeating: [[UInt8]](), count: instances)
        for input in inputs {
            for record in input.file.records {
                let hash = CheckpointFile.hash(ofRecord: record)
                guard seen.insert(hash).inserted else {
                    duplicates += 1
                    continue
                }
                split[StableHash.instance(of: hash, count: instances)].append(record)
            }
        }
        // A model stays a model (its episodes are closed when loaded); a mix is a checkpoint.
        let kind: CheckpointFile.Kind = inputs.allSatisfy { $0.file.kind == .model } ? .model : .checkpoint
        let created = inputs.map(\.file.created).max() ?? Date().timeIntervalSince1970
        let output = options["--output-dir"]!
        print("vigil reshard: \(inputs.count) inputs, \(seen.count) devices -> \(instances) instances")
        for (index, records) in split.enumerated() {
            let path = "\(output)/\(index)/\(CheckpointFile.fileName)"
            do {
                try CheckpointFile(kind: kind, created: created, records: records).write(path: path)
            } catch {
                printError("vigil reshard: \(error.description)")
                return 1
            }
            print("  instance \(index)  \(String(records.count).padding(toLength: 9, withPad: " ", startingAt: 0)) devices  \(path)")
        }
        if duplicates > 0 { print("  \(duplicates) records of devices found in more than one input: the newest kept") }
        return 0
    }
}
