// COMPILE-ONLY STUB of androidx.fragment:fragment 1.2's FragmentActivity (see Stub.kt), the host
// BiometricPrompt needs.
@file:Suppress("unused")

package androidx.fragment.app

open class FragmentActivity : androidx.activity.ComponentActivity()
