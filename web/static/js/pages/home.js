import { currentUser, signedIn } from "../api.js";
import { homeOf } from "../ui.js";

const user = currentUser();
location.replace(signedIn() && user ? homeOf(user) : "/login");
