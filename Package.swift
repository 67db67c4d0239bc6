// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .executable(name: "vigil-loadgen", targets: ["vigil-loadgen"]),
        .executable(name: "vigil-bench", targets: ["vigil-bench"]),
    ],
    targets: [
        // C libraries from Debian, through system-library targets.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // OpenSSL: libcrypto for HMAC-SHA256 (signed webhooks), never hand-written crypto; libssl for the broker's
        // TLS context (a server name other than the host).
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // zlib: gzip recordings (`.jsonl.gz`, through its gz* calls) and the CRC-32 of checkpoint files.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),

        // Pure model and detection: Foundation only, no I/O, no threads.
        .target(name: "VigilCore"),
        // A labelled synthetic fleet and the quality evaluation against its ground truth.
        .target(name: "VigilSim", dependencies: ["VigilCore"]),
        // Rings, partitioning, shard workers.
        .target(name: "VigilPipeline", dependencies: ["VigilCore"]),
        // MQTT, config, logging: everything that touches the outside world.
        // (VigilSim for the load-test scenario files it reads, as it reads the detector profiles of VigilCore.)
        .target(name: "VigilIO", dependencies: ["VigilCore", "VigilPipeline", "VigilSim", "CMosquitto", "CYAML", "CZlib", "COpenSSL"]),

        .executableTarget(name: "vigil", dependencies: ["VigilCore", "VigilPipeline", "VigilIO"]),
        .executableTarget(name: "vigil-loadgen", dependencies: ["VigilCore", "VigilSim", "VigilIO"]),

        // Benchmarks behind `make bench`. CBenchAlloc defines malloc and friends in the executable to count
        // allocations per message (see its header); it is linked into vigil-bench only. TestSupport gives the e2e
        // modes the same loopback mosquitto the tests start.
        .target(name: "CBenchAlloc"),
        .executableTarget(
            name: "vigil-bench",
            dependencies: ["VigilCore", "VigilPipeline", "VigilIO", "VigilSim", "CBenchAlloc", "TestSupport"]
        ),

        // Shared test helpers: a real mosquitto on a free loopback port, temp dirs, waiting on conditions.
        .target(name: "TestSupport", dependencies: ["VigilIO"], path: "Tests/TestSupport"),
        .testTarget(name: "VigilCoreTests", dependencies: ["VigilCore", "VigilSim"]),
        .testTarget(name: "VigilPipelineTests", dependencies: ["VigilPipeline", "VigilCore"]),
        .testTarget(name: "VigilIOTests", dependencies: ["VigilIO", "VigilCore", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["VigilIO", "VigilCore", "VigilPipeline", "VigilSim", "TestSupport", "COpenSSL"]),
    ]
)

// Every Swift target gets the same settings (as swift-nio does at the end of its manifest).
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(contentsOf: [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
        .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
        .treatAllWarnings(as: .error),
    ])
    target.swiftSettings = settings
}
