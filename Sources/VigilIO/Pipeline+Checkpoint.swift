import Foundation
package import VigilCore
package import VigilPipeline

extension Pipeline {
    /// Every shard's device records, each shard visited between two of its batches (the worker pauses for the
    /// copy only: encoding and writing happen after).
    package func checkpoint(kind: CheckpointFile.Kind, created: Double = Date().timeIntervalSince1970) -> CheckpointFile {
        var records: [[UInt8]] = []
        for worker in workers {
            let shard = worker.withEngine { engine in engine.checkpointRecords().map(\.bytes) }
            records.append(contentsOf: shard)
        }
        return CheckpointFile(kind: kind, created: created, records: records)
    }

    /// Loads a checkpoint or model into the (fresh) engines, each record into the shard that owns its device
    /// under the current shard count, leaving out the devices another instance owns (``ownership``: a
    /// checkpoint written under another `cluster.instances` loads the devices this instance owns now). Call
    /// before intake starts.
    ///
    /// - Throws: ``CheckpointError`` for a record that does not decode. The file's checksum has passed by then,
    ///   so this means a file written by a buggy or hostile writer; records before the bad one stay loaded (each
    ///   record is decoded whole before it is installed, so no device holds half a record).
    package func restore(_ file: CheckpointFile, now: Double) throws(CheckpointError) -> DetectionEngine.RestoreCounts {
        var byShard = Array(repeating: [[UInt8]](), count: workers.count)
        var total = DetectionEngine.RestoreCounts()
        for record in file.records {
            let hash = CheckpointFile.hash(ofRecord: record)
            guard ownership.owns(hash) else {
                total.notOwned += 1
                continue
            }
            byShard[StableHash.shard(of: hash, count: workers.count)].append(record)
        }
        for (shard, records) in byShard.enumerated() {
            let result: Result<DetectionEngine.RestoreCounts, CheckpointError> = workers[shard].withEngine { engine in
                do throws(CheckpointError) {
                    return .success(try engine.restore(records: records, now: now, closeEpisodes: file.kind == .model))
                } catch {
                    return .failure(error)
                }
            }
            total += try result.get()
        }
        return total
    }
}
