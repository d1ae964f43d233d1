// swift-tools-version:5.9
// Nyckel for iOS: the Rust core as an XCFramework (built by build-xcframework.sh), the
// generated Swift bindings, a small Swift layer for the app, and XCTests.
import PackageDescription

let package = Package(
    name: "Nyckel",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "Nyckel", targets: ["Nyckel"]),
    ],
    targets: [
        .binaryTarget(name: "NyckelFFIBinary", path: "NyckelFFI.xcframework"),
        // The generated bindings (NyckelFFI.swift, written by build-xcframework.sh).
        .target(name: "NyckelFFI", dependencies: ["NyckelFFIBinary"], path: "Sources/NyckelFFI"),
        // Hand-written Swift: Secure Enclave / Keychain key store, clock, view models.
        .target(name: "Nyckel", dependencies: ["NyckelFFI"], path: "Sources/Nyckel"),
        .testTarget(name: "NyckelTests", dependencies: ["Nyckel"], path: "Tests/NyckelTests"),
    ]
)
