import Foundation
import Testing
import TestSupport
import VigilCore
import VigilIO

/// Figures for the notes, not assertions (speed lives outside `make test`): run with
/// `VIGIL_MEASURE=1 swift test --skip-build --filter OutputDeliveryMeasure`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["VIGIL_MEASURE"] != nil))
struct OutputDeliveryMeasureTests {
    /// 2000 events through the webhook output to a loopback receiver: hand-off time per event, time until all
    /// arrived; then outbox append + fsync and acknowledge, per entry.
    @Test func webhookDeliveryAndOutbox() throws {
        let folder = try TemporaryDirectory()
        let receiver = try HTTPReceiver { _ in .init(status: 200) }
        let config = try IncidentOutputsTests.config(folder, outputs: """
              webhook:
                url: "\(receiver.url)/hook"
                secret_file: "SECRET_FILE"
            """)
        let outputs = try IncidentOutputsTests.make(config)
        let events = IncidentOutputsTests.events(1000)
        let start = Date()
        var handoff: [Double] = []
        for event in events {
            let t = DispatchTime.now().uptimeNanoseconds
            outputs.anomaly(event)
            handoff.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1000)
        }
        let handed = Date().timeIntervalSince(start)
        _ = receiver.requests.wait(timeout: 120) { $0.count >= events.count }
        let total = Date().timeIntervalSince(start)
        handoff.sort()
        print("MEASURE events=\(events.count) handoff_total_s=\(handed) handoff_p50_us=\(handoff[handoff.count/2]) handoff_p99_us=\(handoff[handoff.count*99/100]) delivered_all_s=\(total) rate=\(Double(events.count)/total)/s")
        outputs.stop(grace: 1)
        // Outbox append + fsync, one entry at a time.
        let outbox = try Outbox(directory: folder.path("bench"), maxBytes: 1 << 30)
        let entries = OutboxTests.entries(0..<500, size: 500)
        let t0 = Date()
        for entry in entries { _ = try outbox.append([entry]) }
        let appendS = Date().timeIntervalSince(t0)
        let t1 = Date()
        for _ in entries { _ = outbox.next(); outbox.finish(remove: true) }
        let ackS = Date().timeIntervalSince(t1)
        print("MEASURE outbox append+fsync per entry_us=\(appendS / 500 * 1e6) ack per entry_us=\(ackS / 500 * 1e6)")
    }
}

@Suite(.enabled(if: ProcessInfo.processInfo.environment["VIGIL_MEASURE"] != nil))
struct OutputDeliveryMeasureHTTPTests {
    /// One POST through `HTTPClient` (URLSession) to a loopback receiver, sequentially.
    @Test func httpPost() throws {
        let receiver = try HTTPReceiver { _ in .init(status: 200) }
        let client = HTTPClient(timeout: 5)
        let request = OutgoingRequest(url: URL(string: receiver.url + "/x")!, body: Data(String(repeating: "a", count: 600).utf8))
        _ = client.post(request)
        let t0 = Date()
        for _ in 0..<200 { _ = client.post(request) }
        print("MEASURE http post_ms=\(Date().timeIntervalSince(t0) / 200 * 1000)")
    }
}
