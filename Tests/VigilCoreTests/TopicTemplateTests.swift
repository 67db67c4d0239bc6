import Testing
import VigilCore

@Suite struct TopicTemplateTests {
    @Test(arguments: [
        ("devices/{device}/telemetry", "devices/d-17/telemetry", "d-17"),
        ("devices/{device}/telemetry", "devices/a.b-c_d/telemetry", "a.b-c_d"),
        ("{device}", "sensor-1", "sensor-1"),
        ("site/+/{device}/data", "site/lyon/m-4/data", "m-4"),
        ("fleet/{device}/#", "fleet/x9/a/b/c", "x9"),
        ("fleet/{device}/#", "fleet/x9/a", "x9"),
        ("a/{device}", "a/ünïcødé", "ünïcødé"),
    ])
    func matches(template: String, topic: String, device: String) throws {
        #expect(try TopicTemplate(template).device(in: topic) == device)
    }

    @Test(arguments: [
        ("devices/{device}/telemetry", "devices/d-17/status"),
        ("devices/{device}/telemetry", "devices/d-17"),
        ("devices/{device}/telemetry", "devices/d-17/telemetry/extra"),
        ("devices/{device}/telemetry", "devices//telemetry"),
        ("devices/{device}/telemetry", "device/d-17/telemetry"),
        ("devices/{device}/telemetry", ""),
        ("site/+/{device}/data", "site/lyon/data"),
        ("fleet/{device}/#", "other/x9/a"),
    ])
    func mismatches(template: String, topic: String) throws {
        #expect(try TopicTemplate(template).device(in: topic) == nil)
    }

    @Test(arguments: [
        ("", "is empty"),
        ("devices/telemetry", "needs one '{device}' level"),
        ("{device}/{device}", "has more than one '{device}' level"),
        ("devices/d-{device}/x", "'{device}' must be a whole topic level (found 'd-{device}')"),
        ("a/#/{device}", "'#' must be the last level"),
        ("a+/{device}", "wildcards must be whole topic levels (found 'a+')"),
    ])
    func rejectsBadTemplates(template: String, message: String) {
        #expect(throws: TopicTemplate.ParseError(template: template, message: message)) {
            try TopicTemplate(template)
        }
    }
}
