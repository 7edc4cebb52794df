//! Money: exact decimal amounts and rounding to a currency's minor units. (In progress.)
