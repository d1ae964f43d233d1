// COMPILE-ONLY STUB of androidx.compose.ui:ui 1.7, the Android-only declarations (see Stub.kt).
// The rest of Compose UI is the real desktop jar of the same version.
@file:Suppress("unused", "UNUSED_PARAMETER")

package androidx.compose.ui.platform

import android.content.Context
import androidx.compose.runtime.ProvidableCompositionLocal
import androidx.compose.runtime.staticCompositionLocalOf
import app.nyckel.compilestub.stub

val LocalContext: ProvidableCompositionLocal<Context> = staticCompositionLocalOf { stub() }
