import { currentUser, token } from "../api.js";
import { homeOf } from "../ui.js";

const user = currentUser();
location.replace(token() && user ? homeOf(user) : "/login");
