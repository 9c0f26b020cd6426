// The Clarity icons the pages use (cds-icon web component, registered once; nothing loaded at run time).
import "@cds/core/icon/register.js";
import { ClarityIcons } from "@cds/core/icon/icon.service.js";
import { banIcon } from "@cds/core/icon/shapes/ban.js";
import { checkCircleIcon } from "@cds/core/icon/shapes/check-circle.js";
import { dashboardIcon } from "@cds/core/icon/shapes/dashboard.js";
import { disconnectIcon } from "@cds/core/icon/shapes/disconnect.js";
import { errorStandardIcon } from "@cds/core/icon/shapes/error-standard.js";
import { exclamationTriangleIcon } from "@cds/core/icon/shapes/exclamation-triangle.js";
import { heartBrokenIcon } from "@cds/core/icon/shapes/heart-broken.js";
import { helpIcon } from "@cds/core/icon/shapes/help.js";
import { hourglassIcon } from "@cds/core/icon/shapes/hourglass.js";
import { infoStandardIcon } from "@cds/core/icon/shapes/info-standard.js";
import { lightbulbIcon } from "@cds/core/icon/shapes/lightbulb.js";
import { minusCircleIcon } from "@cds/core/icon/shapes/minus-circle.js";
import { successStandardIcon } from "@cds/core/icon/shapes/success-standard.js";
import { syncIcon } from "@cds/core/icon/shapes/sync.js";
import { timesCircleIcon } from "@cds/core/icon/shapes/times-circle.js";
import { warningStandardIcon } from "@cds/core/icon/shapes/warning-standard.js";

ClarityIcons.addIcons(banIcon, checkCircleIcon, dashboardIcon, disconnectIcon, errorStandardIcon, exclamationTriangleIcon,
  heartBrokenIcon, helpIcon, hourglassIcon, infoStandardIcon, lightbulbIcon, minusCircleIcon, successStandardIcon, syncIcon,
  timesCircleIcon, warningStandardIcon);
