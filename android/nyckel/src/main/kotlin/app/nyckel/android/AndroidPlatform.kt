package app.nyckel.android

import android.content.Context
import android.os.Build
import app.nyckel.ffi.Nyckel
import app.nyckel.ffi.NyckelException
import app.nyckel.ffi.PlatformClock
import app.nyckel.ffi.PlatformKeyStore
import app.nyckel.ffi.StoredVaultKey
import java.io.File

/**
 * The platform key store of the Android app: the vault key wrapped by Android Keystore, and
 * the registrations' P-256 device keys generated inside it (StrongBox when available).
 */
class AndroidKeyStore(context: Context) : PlatformKeyStore {
    private val vaultKeys = AndroidVaultKeys(context.applicationContext)
    private val deviceKeys = AndroidDeviceKeys(context.applicationContext)

    override fun createVaultKey(): StoredVaultKey = guarded {
        val (reference, key) = vaultKeys.create()
        StoredVaultKey(reference, key)
    }

    override fun vaultKey(reference: String): ByteArray = guarded { vaultKeys.unwrap(reference) }

    override fun createDeviceKey(alias: String): ByteArray = guarded { deviceKeys.create(alias) }

    override fun devicePublicKey(alias: String): ByteArray = guarded { deviceKeys.publicKey(alias) }

    override fun signWithDeviceKey(alias: String, message: ByteArray): ByteArray =
        guarded { deviceKeys.sign(alias, message) }

    override fun deleteDeviceKey(alias: String) = guarded { deviceKeys.delete(alias) }

    private inline fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (error: NyckelException) {
        throw error
    } catch (error: Exception) {
        // Keystore failures become a typed platform error in Rust instead of an unexpected one.
        throw NyckelException.Platform("Android Keystore: ${error.message ?: error.javaClass.simpleName}")
    }
}

/** The device clock. */
class AndroidClock : PlatformClock {
    override fun nowUnixSeconds(): ULong = (System.currentTimeMillis() / 1000).toULong()
}

/**
 * Opens (or creates on first run) the app's vault in its private files, with the
 * Keystore-backed key store; the platform name is what the server shows for this device.
 * privacyIDEA push keys go to Android Keystore too ([AndroidRsaKeyStore]): set on every open,
 * because the core looks a token's key up in whichever store is set, and the app has made
 * every token's key there since it could enrol them.
 */
fun openNyckel(context: Context): Nyckel = Nyckel.open(
    File(context.filesDir, "vault").path,
    AndroidKeyStore(context),
    AndroidClock(),
    "Android ${Build.VERSION.RELEASE}",
).also { it.setRsaKeyStore(AndroidRsaKeyStore()) }
