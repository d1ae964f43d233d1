import XCTest
import NyckelFFI
@testable import Nyckel

final class FixedClock: PlatformClock {
    var now: UInt64
    init(_ now: UInt64) { self.now = now }
    func nowUnixSeconds() -> UInt64 { now }
}

final class MemoryKeyStore: PlatformKeyStore {
    private var keys: [String: Data] = [:]

    func createVaultKey() throws -> StoredVaultKey {
        var bytes = [UInt8](repeating: 0, count: 32)
        _ = SecRandomCopyBytes(kSecRandomDefault, bytes.count, &bytes)
        let alias = UUID().uuidString
        keys[alias] = Data(bytes)
        return StoredVaultKey(reference: alias, key: Data(bytes))
    }

    func vaultKey(reference: String) throws -> Data {
        guard let key = keys[reference] else { throw NyckelError.Platform(reason: "no key \(reference)") }
        return key
    }
}

final class NyckelTests: XCTestCase {
    private func temporaryVault() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
    }

    func testTotpFollowsRfc6238() throws {
        let clock = FixedClock(59)
        let core = try Nyckel.open(directory: temporaryVault(), keyStore: MemoryKeyStore(), clock: clock)
        _ = try core.addAccount(uri: "otpauth://totp/RFC:sha1?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8")
        XCTAssertEqual(try core.currentCodes().map(\.code), ["94287082"])
        clock.now = 1_111_111_109
        XCTAssertEqual(try core.currentCodes().map(\.code), ["07081804"])
    }

    func testMalformedUriThrowsTypedError() throws {
        let core = try Nyckel.open(directory: temporaryVault(), keyStore: MemoryKeyStore(), clock: FixedClock(0))
        XCTAssertThrowsError(try core.addAccount(uri: "otpauth://totp/A:b?secret=JBSWY3DPEHPK3PXP&digits=12")) { error in
            guard case NyckelError.InvalidInput = error else { return XCTFail("unexpected \(error)") }
        }
        XCTAssertEqual(try core.accounts().count, 0)
    }
}
